package daemon

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecurityFlagsAndTOML: the security settings read the same from
// flags and from top-level TOML keys, and are off by default.
func TestSecurityFlagsAndTOML(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("admin 0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	def, err := LoadConfig(base, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if def.AuthOn() || def.HTTPTLSCert != "" || def.TLSIDFrom != "" || def.GroupSecretFile != "" || def.MetricsListen != "" {
		t.Errorf("security is on by default: %+v", def.Security)
	}
	flags := append(append([]string{}, base...), "--auth-tokens", tokens, "--metrics-auth", "--metrics-listen", "127.0.0.1:9100",
		"--http-read-timeout", "5s", "--http-write-timeout", "45s", "--http-idle-timeout", "7s", "--http-max-conns", "9")
	fromFlags, err := LoadConfig(flags, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	file := writeTOML(t, baseTOML+`auth-tokens = "`+tokens+`"
metrics-auth = true
metrics-listen = "127.0.0.1:9100"
http-read-timeout = "5s"
http-write-timeout = "45s"
http-idle-timeout = "7s"
http-max-conns = 9
`)
	fromTOML, err := LoadConfig([]string{"--config", file}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]Config{"flags": fromFlags, "toml": fromTOML} {
		s := c.Security
		if s.AuthTokens != tokens || !s.MetricsAuth || s.MetricsListen != "127.0.0.1:9100" || s.HTTPReadTimeout != 5*time.Second ||
			s.HTTPWriteTimeout != 45*time.Second || s.HTTPIdleTimeout != 7*time.Second || s.HTTPMaxConns != 9 {
			t.Errorf("%s: %+v", name, s)
		}
	}
}

// TestSecurityValidate: each bad security setting is refused naming its
// flag; a token or secret file others can read is refused.
func TestSecurityValidate(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	if err := os.WriteFile(open, []byte("admin 0123456789abcdef\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o644); err != nil { // umask may have removed bits
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"cert without key", []string{"--http-tls-cert", "c.pem"}, "--http-tls-cert"},
		{"client CA without TLS", []string{"--http-client-ca", "ca.pem"}, "--http-client-ca"},
		{"world-readable tokens", []string{"--auth-tokens", open}, "--auth-tokens: " + open + ": mode 0644"},
		{"missing tokens", []string{"--auth-tokens", filepath.Join(dir, "none")}, "--auth-tokens"},
		{"world-readable secret", []string{"--group-secret-file", open}, "--group-secret-file: " + open + ": mode 0644"},
		{"metrics-auth without auth", []string{"--metrics-auth"}, "--metrics-auth"},
		{"metrics on the http address", []string{"--metrics-listen", "127.0.0.1:8001"}, "--metrics-listen"},
		{"write timeout under read-timeout", []string{"--http-write-timeout", "10s"}, "--http-write-timeout"},
		{"negative conns", []string{"--http-max-conns", "-1"}, "--http-max-conns"},
		{"id rule without TLS", []string{"--tls-id-from", "cn"}, "--tls-id-from"},
		{"unknown id rule", []string{"--tls-id-from", "email"}, "--tls-id-from"},
		{"cert roles without client CA", []string{"--auth-cert-roles", "ops=admin"}, "--auth-cert-roles"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig(append(append([]string{}, base...), tc.args...), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestCertRoles(t *testing.T) {
	s := Security{AuthCertRoles: "ops=admin, app = write"}
	m, err := s.CertRoles()
	if err != nil || m["ops"] != "admin" || m["app"] != "write" || len(m) != 2 {
		t.Fatalf("CertRoles = %v, %v", m, err)
	}
	for _, bad := range []string{"ops", "ops=root", "a=read,a=write", "=read"} {
		if _, err := (Security{AuthCertRoles: bad}).CertRoles(); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCertRolesFile(t *testing.T) {
	dir := t.TempDir()
	file := func(name, body string, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // umask may have removed bits
			t.Fatal(err)
		}
		return p
	}
	good := file("good", "# the operators\nops team = admin\n\n  app=read  \n", 0o644)
	m, err := Security{AuthCertRoles: "cli=write", AuthCertRolesFile: good}.CertRolesFile()
	if err != nil || m["ops team"] != "admin" || m["app"] != "read" || len(m) != 2 {
		t.Fatalf("CertRolesFile = %v, %v", m, err)
	}
	for name, tc := range map[string]struct {
		body   string
		mode   os.FileMode
		inline string
		want   string
	}{
		"bad role":      {"ops=root\n", 0o644, "", ":1:"},
		"no role":       {"# x\nops\n", 0o644, "", ":2:"},
		"twice":         {"a=read\na=write\n", 0o644, "", "listed twice"},
		"also inline":   {"a=read\n", 0o644, "a=admin", "also in --auth-cert-roles"},
		"others change": {"a=read\n", 0o666, "", "mode 0666"},
	} {
		s := Security{AuthCertRoles: tc.inline, AuthCertRolesFile: file(name, tc.body, tc.mode)}
		if _, err := s.CertRolesFile(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}
	if _, err := LoadConfig(append(append([]string{}, base...), "--auth-cert-roles-file", good), io.Discard); err == nil || !strings.Contains(err.Error(), "--auth-cert-roles-file") {
		t.Errorf("without --http-client-ca: %v", err)
	}
	if m, err := (Security{}).CertRolesFile(); err != nil || len(m) != 0 {
		t.Errorf("without the flag: %v, %v", m, err)
	}
}
