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
