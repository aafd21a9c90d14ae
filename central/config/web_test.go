package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWebGood(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "admin.pw"), []byte("correct horse battery\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := strings.Repeat("s", 40)
	if err := os.WriteFile(filepath.Join(dir, "web.secret"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse(filepath.Join(dir, "c.yaml"), []byte(billingBase+demoOperator+`web:
  public_url: https://charge.example.com
  secret_file: web.secret
  admin: {email: admin@example.com, operator: demo-op, password_file: admin.pw}
`))
	if err != nil {
		t.Fatal(err)
	}
	w := c.Web
	if !w.Enabled() || w.MetricsListen != DefaultMetricsListen || string(w.Secret) != secret || w.Admin.Password != "correct horse battery" {
		t.Errorf("web %+v admin %+v", w, w.Admin)
	}
	c, err = Parse(filepath.Join(dir, "c.yaml"), []byte(billingBase))
	if err != nil {
		t.Fatal(err)
	}
	if c.Web.Enabled() {
		t.Error("no web section: web app enabled")
	}
}

func TestWebBad(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("too short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PG_TEST_ADMIN_PW", "long enough password")
	for name, tc := range map[string]struct{ web, want string }{
		"url with path":   {"web: {public_url: https://x.example/app}", "web.public_url"},
		"url scheme":      {"web: {public_url: ftp://x.example}", "web.public_url"},
		"metrics listen":  {"web: {public_url: https://x.example, metrics_listen: nope}", "web.metrics_listen"},
		"short secret":    {"web: {public_url: https://x.example, secret_file: " + short + "}", "at least 32"},
		"missing secret":  {"web: {public_url: https://x.example, secret_file: " + filepath.Join(dir, "none") + "}", "web.secret_file"},
		"no password":     {"web: {public_url: https://x.example, admin: {email: a@example.com, operator: demo-op}}", "web.admin.password"},
		"short password":  {"web: {public_url: https://x.example, admin: {email: a@example.com, operator: demo-op, password: short}}", "at least 12"},
		"unknown tenant":  {`web: {public_url: https://x.example, admin: {email: a@example.com, operator: nobody, password: "${PG_TEST_ADMIN_PW}"}}`, "web.admin.operator"},
		"no admin e-mail": {`web: {public_url: https://x.example, admin: {operator: demo-op, password: "${PG_TEST_ADMIN_PW}"}}`, "web.admin.email"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(filepath.Join(dir, "c.yaml"), []byte(billingBase+demoOperator+tc.web+"\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want it to name %q", err, tc.want)
			}
		})
	}
	// A password from the environment is accepted.
	if _, err := Parse(filepath.Join(dir, "c.yaml"), []byte(billingBase+demoOperator+
		`web: {public_url: http://localhost:8080, admin: {email: a@example.com, operator: demo-op, password: "${PG_TEST_ADMIN_PW}"}}`+"\n")); err != nil {
		t.Errorf("password from the environment: %v", err)
	}
}
