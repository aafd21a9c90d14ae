// Package token holds the bearer tokens of the edge's REST API: how a token
// is made, the token file that keeps their hashes, and the check of a
// presented token. It is standard library only, so the site-file check
// (edge/config) reads token files without pulling in the HTTP stack.
//
// # Tokens
//
// A token is "pgt_" followed by 43 base64url characters (32 random bytes).
// It is shown once, when it is made (`parkgrid token`), and never stored:
// the token file keeps its SHA-256. A token has 256 bits of entropy, so a
// fast hash is enough; nobody can guess one from its hash.
//
// # Token file
//
// One token per line, fields separated by spaces or tabs; '#' starts a
// comment line; blank lines are ignored:
//
//	# name        scopes          hash
//	ems-main      read,limit      sha256:5f2b…(64 hex digits)
//	fire-brigade  read,reset      sha256:9c01…
//
// A name is 1..64 of [A-Za-z0-9._@-]; it is what the audit log records as
// "who" for an alarm reset. Scopes are a comma-separated subset of read,
// limit and reset. Names and hashes are unique within a file. The file must
// not be writable by group or others (whoever can write it can grant
// themselves any scope); its hashes are no secret.
package token

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Scope is one right a token may carry.
type Scope string

// The scopes of the REST API.
const (
	Read  Scope = "read"  // GET the site, points, alarms, config, metrics
	Limit Scope = "limit" // POST /api/v1/limit
	Reset Scope = "reset" // POST /api/v1/alarms/reset
)

// Scopes lists every scope, in the order they are written.
var Scopes = []Scope{Read, Limit, Reset}

// Prefix starts every token, so that secret scanners and people recognise one.
const Prefix = "pgt_"

// Limits of the format.
const (
	secretBytes  = 32
	tokenLen     = len(Prefix) + 43 // base64url without padding of 32 bytes
	maxNameLen   = 64
	MaxFileBytes = 1 << 20 // a token file larger than this is refused
)

// ErrInvalid marks a token file that does not parse.
var ErrInvalid = errors.New("invalid token file")

// Entry is one line of a token file.
type Entry struct {
	Name   string
	Scopes []Scope // sorted in the order of Scopes, no repeats
	Hash   [sha256.Size]byte
}

// Has reports whether e carries scope s.
func (e Entry) Has(s Scope) bool { return slices.Contains(e.Scopes, s) }

// Line is e as a token file line (without newline).
func (e Entry) Line() string {
	names := make([]string, len(e.Scopes))
	for i, s := range e.Scopes {
		names[i] = string(s)
	}
	return e.Name + " " + strings.Join(names, ",") + " sha256:" + hex.EncodeToString(e.Hash[:])
}

// New makes a token from rnd (nil: crypto/rand) and returns it with its
// hash. The token is shown to the user once; only the hash is kept.
func New(rnd io.Reader) (secret string, hash [sha256.Size]byte, err error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	b := make([]byte, secretBytes)
	if _, err := io.ReadFull(rnd, b); err != nil {
		return "", hash, fmt.Errorf("token: random bytes: %w", err)
	}
	secret = Prefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, Hash(secret), nil
}

// Hash is what the token file keeps of a token.
func Hash(secret string) [sha256.Size]byte { return sha256.Sum256([]byte(secret)) }

// ParseScopes reads "read,limit" into scopes in canonical order.
func ParseScopes(s string) ([]Scope, error) {
	if s == "" {
		return nil, errors.New("no scopes (want a comma-separated subset of read, limit, reset)")
	}
	var out []Scope
	for _, f := range strings.Split(s, ",") {
		sc := Scope(strings.TrimSpace(f))
		if !slices.Contains(Scopes, sc) {
			return nil, fmt.Errorf("unknown scope %q (want read, limit or reset)", f)
		}
		if slices.Contains(out, sc) {
			return nil, fmt.Errorf("scope %q given twice", sc)
		}
		out = append(out, sc)
	}
	slices.SortFunc(out, func(a, b Scope) int { return slices.Index(Scopes, a) - slices.Index(Scopes, b) })
	return out, nil
}

// CheckName accepts a token name.
func CheckName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("name %q: want 1..%d characters", name, maxNameLen)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._@-", r)) {
			return fmt.Errorf("name %q: use letters, digits, '.', '_', '@', '-'", name)
		}
	}
	return nil
}

// Parse reads a token file. Errors wrap ErrInvalid and name the line.
func Parse(b []byte) ([]Entry, error) {
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalid, len(b), MaxFileBytes)
	}
	var out []Entry
	names := map[string]int{}
	hashes := map[[sha256.Size]byte]int{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), MaxFileBytes)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		e, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrInvalid, n, err)
		}
		if prev, ok := names[e.Name]; ok {
			return nil, fmt.Errorf("%w: line %d: name %q already used on line %d", ErrInvalid, n, e.Name, prev)
		}
		if prev, ok := hashes[e.Hash]; ok {
			return nil, fmt.Errorf("%w: line %d: the same token as line %d", ErrInvalid, n, prev)
		}
		names[e.Name], hashes[e.Hash] = n, n
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return out, nil
}

func parseLine(line string) (Entry, error) {
	f := strings.Fields(line)
	if len(f) != 3 {
		return Entry{}, fmt.Errorf("%d fields, want 3: name scopes sha256:<hex>", len(f))
	}
	if err := CheckName(f[0]); err != nil {
		return Entry{}, err
	}
	scopes, err := ParseScopes(f[1])
	if err != nil {
		return Entry{}, err
	}
	h, ok := strings.CutPrefix(f[2], "sha256:")
	if !ok {
		return Entry{}, errors.New("hash must start with sha256: (the file keeps hashes, never tokens)")
	}
	raw, err := hex.DecodeString(h)
	if err != nil || len(raw) != sha256.Size {
		return Entry{}, fmt.Errorf("hash: want %d hex digits", 2*sha256.Size)
	}
	e := Entry{Name: f[0], Scopes: scopes}
	copy(e.Hash[:], raw)
	return e, nil
}

// Lookup returns the entry whose hash is the presented token's. It
// compares against every entry in constant time per entry, so the time
// taken tells nothing about which hash came close.
func Lookup(entries []Entry, presented string) (Entry, bool) {
	h := Hash(presented)
	var (
		found Entry
		ok    int
	)
	for _, e := range entries {
		if subtle.ConstantTimeCompare(h[:], e.Hash[:]) == 1 {
			found, ok = e, 1
		}
	}
	return found, ok == 1
}

// ParseBearer returns the token of an Authorization header value
// "Bearer <token>" (scheme case-insensitive, RFC 6750). It refuses
// anything that is not shaped like a parkgrid token, so nothing odd
// reaches the hash or the logs.
func ParseBearer(header string) (string, bool) {
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimLeft(tok, " ")
	if len(tok) != tokenLen || !strings.HasPrefix(tok, Prefix) {
		return "", false
	}
	for _, r := range tok[len(Prefix):] {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return "", false
		}
	}
	return tok, true
}
