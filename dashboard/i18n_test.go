package dashboard

import (
	"io/fs"
	"regexp"
	"testing"
)

func TestAcceptLanguage(t *testing.T) {
	for _, c := range []struct{ header, want string }{
		{"", "en"},
		{"de", "de"},
		{"de-DE,de;q=0.9,en;q=0.8", "de"},
		{"en-US,en;q=0.9,de;q=0.8", "en"},
		{"fr-FR,fr;q=0.9,de;q=0.5,en;q=0.4", "de"},
		{"en;q=0.2,de;q=0.7", "de"},
		{"de;q=0,en", "en"},
		{"fr", "en"},
		{"de;q=abc,en;q=0.1", "en"},
		{"DE-at", "de"},
	} {
		if got := acceptLanguage(c.header); got != c.want {
			t.Errorf("acceptLanguage(%q) = %q, want %q", c.header, got, c.want)
		}
	}
}

func FuzzAcceptLanguage(f *testing.F) {
	for _, s := range []string{"de-DE,de;q=0.9", "en;q=1.5", ";;,,q=", "de;q=NaN"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if got := acceptLanguage(h); !known(got) {
			t.Fatalf("acceptLanguage(%q) = %q", h, got)
		}
	})
}

// TestMessagesComplete: every message speaks both languages, and every
// key a template names exists.
func TestMessagesComplete(t *testing.T) {
	for k, m := range messages {
		for _, l := range langs {
			if m[l] == "" {
				t.Errorf("message %q has no %s text", k, l)
			}
		}
	}
	keyRE := regexp.MustCompile(`\{\{t \S+ "([^"]+)"\}\}|tf \S+ "([^"]+)"`)
	err := fs.WalkDir(templateFiles, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(templateFiles, p)
		if err != nil {
			return err
		}
		for _, m := range keyRE.FindAllStringSubmatch(string(b), -1) {
			k := m[1] + m[2]
			if _, ok := messages[k]; !ok {
				t.Errorf("%s uses unknown message %q", p, k)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMoney(t *testing.T) {
	for _, c := range []struct {
		lang  string
		minor int64
		cur   string
		want  string
	}{
		{"en", 39, "EUR", "€0.39"},
		{"de", 39, "EUR", "0,39 €"},
		{"en", 123456, "EUR", "€1234.56"},
		{"de", -105, "EUR", "−1,05 €"},
		{"en", 500, "CHF", "5.00 CHF"},
		{"de", 500, "ISK", "500 ISK"},
		{"en", 7, "XXX", "7 (minor units of XXX)"},
	} {
		if got := money(c.lang, c.minor, c.cur); got != c.want {
			t.Errorf("money(%s, %d, %s) = %q, want %q", c.lang, c.minor, c.cur, got, c.want)
		}
	}
}
