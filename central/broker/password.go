package broker

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Password hashes use Mosquitto 2's password-file format, so one hash
// serves the embedded broker and an external Mosquitto alike:
//
//	$7$<iterations>$<base64 salt>$<base64 PBKDF2-SHA512 key of 64 bytes>
//
// `mosquitto_passwd` writes the same (with 101 iterations; HashPassword
// uses more).
const (
	hashPrefix     = "$7$"
	hashIterations = 20000
	saltBytes      = 12
	keyBytes       = 64
	maxIterations  = 1_000_000 // a hash asking for more is refused (it would stall connects)
)

// ErrBadHash marks a password hash that is not in the $7$ format.
var ErrBadHash = errors.New("password hash: want $7$<iterations>$<salt>$<hash> (mosquitto_passwd or parkgrid)")

// HashPassword returns the $7$ hash of password with a random salt from
// rnd (nil: crypto/rand).
func HashPassword(password string, rnd io.Reader) (string, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	salt := make([]byte, saltBytes)
	if _, err := io.ReadFull(rnd, salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key, err := pbkdf2.Key(sha512.New, password, salt, hashIterations, keyBytes)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return hashPrefix + strconv.Itoa(hashIterations) + "$" + base64.StdEncoding.EncodeToString(salt) + "$" + base64.StdEncoding.EncodeToString(key), nil
}

// parsedHash is a $7$ hash, split.
type parsedHash struct {
	iter      int
	salt, key []byte
}

// CheckHash reports whether h is a usable $7$ hash.
func CheckHash(h string) error {
	_, err := parseHash(h)
	return err
}

// parseHash splits a $7$ hash.
func parseHash(h string) (parsedHash, error) {
	rest, ok := strings.CutPrefix(h, hashPrefix)
	if !ok {
		return parsedHash{}, ErrBadHash
	}
	f := strings.Split(rest, "$")
	if len(f) != 3 {
		return parsedHash{}, ErrBadHash
	}
	iter, err := strconv.Atoi(f[0])
	if err != nil || iter < 1 || iter > maxIterations {
		return parsedHash{}, fmt.Errorf("%w: iterations %q", ErrBadHash, f[0])
	}
	salt, err1 := base64.StdEncoding.DecodeString(f[1])
	key, err2 := base64.StdEncoding.DecodeString(f[2])
	if err1 != nil || err2 != nil || len(salt) == 0 || len(key) != keyBytes {
		return parsedHash{}, ErrBadHash
	}
	return parsedHash{iter: iter, salt: salt, key: key}, nil
}

// verify reports whether password matches h, in constant time.
func (h parsedHash) verify(password string) bool {
	key, err := pbkdf2.Key(sha512.New, password, h.salt, h.iter, keyBytes)
	return err == nil && subtle.ConstantTimeCompare(key, h.key) == 1
}
