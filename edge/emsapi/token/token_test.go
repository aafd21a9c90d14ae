package token

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNewAndLookup(t *testing.T) {
	secret, h, err := New(bytes.NewReader(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, Prefix) || len(secret) != tokenLen {
		t.Fatalf("token %q: want %s + 43 characters", secret, Prefix)
	}
	if got, ok := ParseBearer("Bearer " + secret); !ok || got != secret {
		t.Fatalf("ParseBearer of a fresh token = %q, %v", got, ok)
	}
	es := []Entry{{Name: "a", Scopes: []Scope{Read}, Hash: Hash("pgt_other")}, {Name: "b", Scopes: []Scope{Read, Reset}, Hash: h}}
	e, ok := Lookup(es, secret)
	if !ok || e.Name != "b" {
		t.Errorf("Lookup = %+v, %v; want entry b", e, ok)
	}
	if _, ok := Lookup(es, secret+"x"); ok {
		t.Error("Lookup accepted a token that is not in the file")
	}
}

func TestParse(t *testing.T) {
	h1, h2 := Hash("one"), Hash("two")
	file := "# comment\n\n  ems-main\tlimit,read  " + "sha256:" + hexOf(h1) + "\nfire@brigade reset sha256:" + hexOf(h2) + "\n"
	got, err := Parse([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{{Name: "ems-main", Scopes: []Scope{Read, Limit}, Hash: h1}, {Name: "fire@brigade", Scopes: []Scope{Reset}, Hash: h2}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
	if again, err := Parse([]byte(got[0].Line() + "\n" + got[1].Line())); err != nil || !cmp.Equal(again, got) {
		t.Errorf("Line does not round-trip: %v %v", again, err)
	}
}

func hexOf(h [32]byte) string { return hex.EncodeToString(h[:]) }

func TestParseRefuses(t *testing.T) {
	h := "sha256:" + hexOf(Hash("x"))
	for name, tc := range map[string]struct{ file, want string }{
		"plain token":     {"a read pgt_abc", "must start with sha256:"},
		"two fields":      {"a read", "2 fields"},
		"unknown scope":   {"a read,admin " + h, `unknown scope "admin"`},
		"empty scope":     {"a read, " + h, `unknown scope ""`},
		"scope twice":     {"a read,read " + h, "given twice"},
		"bad name":        {"a/b read " + h, "name"},
		"short hash":      {"a read sha256:abcd", "64 hex digits"},
		"duplicate name":  {"a read " + h + "\na limit sha256:" + hexOf(Hash("y")), `name "a" already used on line 1`},
		"duplicate token": {"a read " + h + "\nb limit " + h, "the same token as line 1"},
	} {
		_, err := Parse([]byte(tc.file))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want ErrInvalid containing %q", name, err, tc.want)
		}
	}
}

func TestParseBearer(t *testing.T) {
	tok := Prefix + strings.Repeat("A", 43)
	for h, ok := range map[string]bool{
		"Bearer " + tok:       true,
		"bearer " + tok:       true,
		"BEARER  " + tok:      true,
		"Basic " + tok:        false,
		"Bearer":              false,
		"Bearer " + tok + "A": false,
		"Bearer " + tok[:40]:  false,
		"Bearer pgt_" + "=" + strings.Repeat("A", 42): false,
		tok: false,
		"":  false,
	} {
		if _, got := ParseBearer(h); got != ok {
			t.Errorf("ParseBearer(%q) ok = %v, want %v", h, got, ok)
		}
	}
}

func TestFileReloadsAndFailsClosed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens")
	s1, h1, _ := New(nil)
	if err := Append(path, Entry{Name: "one", Scopes: []Scope{Read}, Hash: h1}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("new token file mode %04o, want 0600", fi.Mode().Perm())
	}
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	f, err := Open(path, func() time.Time { return now }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := f.Authenticate(s1); !ok || e.Name != "one" {
		t.Fatalf("Authenticate(one) = %+v %v", e, ok)
	}
	s2, h2, _ := New(nil)
	if err := Append(path, Entry{Name: "two", Scopes: []Scope{Limit}, Hash: h2}); err != nil {
		t.Fatal(err)
	}
	if err := Append(path, Entry{Name: "two", Scopes: []Scope{Limit}, Hash: Hash("z")}); err == nil {
		t.Error("Append accepted a name twice")
	}
	if _, ok := f.Authenticate(s2); ok {
		t.Error("token two accepted before the file was looked at again")
	}
	now = now.Add(recheckEvery)
	if e, ok := f.Authenticate(s2); !ok || e.Name != "two" {
		t.Errorf("after reload: Authenticate(two) = %+v %v", e, ok)
	}

	// Broken file: every token refused (fail closed), back once fixed.
	good, _ := os.ReadFile(path)
	if err := os.WriteFile(path, append(good, "garbage line here too\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	now = now.Add(recheckEvery)
	if _, ok := f.Authenticate(s1); ok {
		t.Error("token accepted while the file is broken")
	}
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	now = now.Add(recheckEvery)
	if _, ok := f.Authenticate(s1); !ok {
		t.Error("token refused after the file was fixed")
	}

	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); !errors.Is(err, ErrPermissions) {
		t.Errorf("world-writable file: %v, want ErrPermissions", err)
	}
}

func TestAppendAfterLineWithoutNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte("a read sha256:"+hexOf(Hash("a"))), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Append(path, Entry{Name: "b", Scopes: []Scope{Read}, Hash: Hash("b")}); err != nil {
		t.Fatal(err)
	}
	if es, err := Load(path); err != nil || len(es) != 2 {
		t.Errorf("Load = %v, %v; want 2 entries", es, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("# c\nems read,limit sha256:" + hexOf(Hash("x")) + "\n"))
	f.Add([]byte("a reset sha256:00\n\n\t\n"))
	f.Add([]byte("a read,read,read sha256:" + strings.Repeat("z", 64)))
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		// What parses, written back, parses to the same.
		var buf bytes.Buffer
		for _, e := range es {
			if len(e.Scopes) == 0 || CheckName(e.Name) != nil {
				t.Fatalf("accepted entry %+v", e)
			}
			buf.WriteString(e.Line() + "\n")
		}
		again, err := Parse(buf.Bytes())
		if err != nil || !cmp.Equal(es, again) {
			t.Fatalf("round trip: %v, %v vs %v", err, again, es)
		}
	})
}

func FuzzParseBearer(f *testing.F) {
	f.Add("Bearer " + Prefix + strings.Repeat("A", 43))
	f.Add("bearer x")
	f.Add("Basic dXNlcjpwYXNz")
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := ParseBearer(h)
		if !ok {
			return
		}
		if len(tok) != tokenLen || !strings.HasPrefix(tok, Prefix) || strings.ContainsAny(tok, " \t\r\n\x00") {
			t.Fatalf("accepted %q from %q", tok, h)
		}
	})
}
