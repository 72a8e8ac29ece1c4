package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"logship/internal/testwait"
)

// TestReloadTokensAndCertificate: a reload reads --auth-tokens and the
// HTTPS certificate again. A token removed from the file is refused and
// a new one admitted; a file that fails to load (world-readable) leaves
// the tokens in use; a certificate from another CA written over the old
// files is what new handshakes see.
func TestReloadTokensAndCertificate(t *testing.T) {
	ca, _, cert, key := httpsFiles(t)
	tokens := writeTokens(t)
	n, url := startFront(t, func(c *Config) {
		c.HTTPTLSCert, c.HTTPTLSKey, c.AuthTokens = cert, key, tokens
	})
	trustOld := tlsClient(&tls.Config{RootCAs: ca.Pool})
	status := func(c *http.Client, tok string) int {
		code, _, _ := doAuth(t, c, "GET", url+"/v1/status", tok, "")
		return code
	}
	if got := status(trustOld, adminTok); got != 200 {
		t.Fatalf("before the reload, the admin token: %d", got)
	}

	const newTok = "rotated-admin-token-0123456789"
	if err := os.WriteFile(tokens, []byte("admin "+newTok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n.reload()
	if got := status(trustOld, adminTok); got != http.StatusUnauthorized {
		t.Fatalf("after the reload, the removed token: %d, want 401", got)
	}
	if got := status(trustOld, newTok); got != 200 {
		t.Fatalf("after the reload, the new token: %d", got)
	}

	if err := os.Chmod(tokens, 0o644); err != nil {
		t.Fatal(err)
	}
	n.reload()
	if got := status(trustOld, newTok); got != 200 {
		t.Fatalf("after a reload that failed, the token in use: %d, want 200", got)
	}

	ca2 := newTestCA(t)
	dir := t.TempDir()
	cert2, key2, err := ca2.WriteSite(dir, "repnode-http")
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, cert2, cert)
	copyFile(t, key2, key)
	n.reload()
	if got := status(tlsClient(&tls.Config{RootCAs: ca2.Pool}), newTok); got != 200 {
		t.Fatalf("a client trusting the new certificate's CA: %d", got)
	}
	if _, err := tlsClient(&tls.Config{RootCAs: ca.Pool}).Get(url + "/v1/status"); err == nil {
		t.Fatal("after the reload, the old certificate is still presented")
	}
}

// TestReloadOnSIGHUPProcess: a repnode process reads --auth-tokens again
// on SIGHUP and keeps serving.
func TestReloadOnSIGHUPProcess(t *testing.T) {
	bin := buildBinary(t)
	tokens := filepath.Join(t.TempDir(), "tokens")
	const oldTok, newTok = "first-admin-token-0123456789", "second-admin-token-0123456789"
	if err := os.WriteFile(tokens, []byte("admin "+oldTok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := newGroup(t, 2)
	m := startProc(t, bin, g.http[1], append(g.args(1, t.TempDir()), "--master", "--ack", "none", "--auth-tokens", tokens)...)
	c := &http.Client{Timeout: 5 * time.Second}
	url := "http://" + m.http + "/v1/status"
	if code, _, _ := doAuth(t, c, "GET", url, oldTok, ""); code != 200 {
		t.Fatalf("the first token before SIGHUP: %d", code)
	}
	if err := os.WriteFile(tokens, []byte("admin "+newTok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "the new token admitted and the old one refused", func() bool {
		a, _, _ := doAuth(t, c, "GET", url, newTok, "")
		b, _, _ := doAuth(t, c, "GET", url, oldTok, "")
		return a == 200 && b == http.StatusUnauthorized
	})
	m.running(t)
	if !strings.Contains(m.log(), "reload: --auth-tokens reloaded") {
		t.Fatalf("the log does not say the tokens were reloaded:\n%s", m.log())
	}
}

// TestReloadReplicationCertificate: the replication port's TLS
// configuration presents, as server and as client, the pair a reload
// read last; a pair that fails to load leaves the one in use.
func TestReloadReplicationCertificate(t *testing.T) {
	ca, caFile, cert, key := httpsFiles(t)
	conf, cf, _, err := loadTLS(Config{TLSCert: cert, TLSKey: key, TLSCA: caFile})
	if err != nil {
		t.Fatal(err)
	}
	leaf := func() (server, client []byte) {
		t.Helper()
		s, err := conf.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := conf.GetClientCertificate(&tls.CertificateRequestInfo{})
		if err != nil {
			t.Fatal(err)
		}
		return s.Certificate[0], c.Certificate[0]
	}
	s0, c0 := leaf()
	if !bytes.Equal(s0, c0) {
		t.Fatal("the server and client sides present different certificates")
	}
	cert2, key2, err := ca.WriteSite(t.TempDir(), "repnode-http")
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, cert2, cert)
	copyFile(t, key2, key)
	if err := cf.reload(); err != nil {
		t.Fatal(err)
	}
	s1, c1 := leaf()
	if bytes.Equal(s1, s0) || !bytes.Equal(s1, c1) {
		t.Fatal("after the reload the old certificate is still presented")
	}
	if err := os.WriteFile(key, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cf.reload(); err == nil {
		t.Fatal("a broken key file reloaded")
	}
	if s2, _ := leaf(); !bytes.Equal(s2, s1) {
		t.Fatal("a failed reload changed the certificate presented")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestReloadCAs: a reload reads --http-client-ca and --tls-ca again.
// After another CA is written over them, the HTTP port and the
// replication port accept client certificates from the new CA and
// refuse those of the old; a CA file that fails to load keeps the one
// in use.
func TestReloadCAs(t *testing.T) {
	ca, caFile, cert, key := httpsFiles(t)
	replCAFile := filepath.Join(t.TempDir(), "repl-ca.pem")
	copyFile(t, caFile, replCAFile)
	n, url := startFront(t, func(c *Config) {
		c.HTTPTLSCert, c.HTTPTLSKey, c.HTTPClientCA = cert, key, caFile
		c.TLSCert, c.TLSKey, c.TLSCA = cert, key, replCAFile
	})
	ca2 := newTestCA(t)
	oldClient, newClient := clientCert(t, ca, "ops", ca), clientCert(t, ca2, "ops", ca)
	httpOK := func(c *tls.Config) bool {
		code, _, err := doAuthErr(tlsClient(c), "GET", url+"/v1/status")
		return err == nil && code == 200
	}
	// replOK: the replication port keeps a connection whose client
	// certificate it accepted (waiting for the hello), and ends one it
	// refused with an alert.
	replOK := func(c *tls.Config) bool {
		t.Helper()
		conn, err := tls.Dial("tcp", n.tr.Addr().String(), c)
		if err != nil {
			return false
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, err = conn.Read(make([]byte, 1))
		return errors.Is(err, os.ErrDeadlineExceeded)
	}
	if !httpOK(oldClient) || !replOK(oldClient) || httpOK(newClient) || replOK(newClient) {
		t.Fatal("before the reload: want the first CA's client certificates accepted and the second's refused")
	}
	ca2File, err := ca2.WriteCA(t.TempDir(), "ca2.pem")
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, ca2File, caFile)
	copyFile(t, ca2File, replCAFile)
	n.reload()
	if httpOK(oldClient) || replOK(oldClient) {
		t.Fatal("after the reload a client certificate of the old CA is accepted")
	}
	if !httpOK(newClient) || !replOK(newClient) {
		t.Fatal("after the reload a client certificate of the new CA is refused")
	}
	for _, f := range []string{caFile, replCAFile} {
		if err := os.WriteFile(f, []byte("no certificate here"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n.reload()
	if !httpOK(newClient) || !replOK(newClient) {
		t.Fatal("a CA file that failed to load changed the CA in use")
	}
}

// doAuthErr sends one request without a token and returns its status or
// the error that kept it from an answer.
func doAuthErr(c *http.Client, method, url string) (int, []byte, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// TestReloadCertRolesFile: --auth-cert-roles-file is read again by a
// reload: a certificate given a role is let in with it, a role lowered
// or taken away holds from the next request; a file that fails to load
// (a role that does not exist, a common name also in --auth-cert-roles,
// a mode that lets others change it) keeps the roles in use.
func TestReloadCertRolesFile(t *testing.T) {
	ca, caFile, cert, key := httpsFiles(t)
	roles := filepath.Join(t.TempDir(), "cert-roles")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(roles, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("# nobody yet\nauditor=read\n")
	n, url := startFront(t, func(c *Config) {
		c.HTTPTLSCert, c.HTTPTLSKey, c.HTTPClientCA = cert, key, caFile
		c.AuthCertRoles, c.AuthCertRolesFile = "admin-cli=admin", roles
	})
	ops := tlsClient(clientCert(t, ca, "ops", ca))
	code := func(method, path string) int {
		t.Helper()
		c, _, err := doAuthErr(ops, method, url+path)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := code("GET", "/v1/status"); c != http.StatusUnauthorized {
		t.Fatalf("a certificate without a role: %d, want 401", c)
	}
	write("ops=write\n")
	n.reload()
	if g, p := code("GET", "/v1/status"), code("PUT", "/v1/kv/b/k"); g != 200 || p != 200 {
		t.Fatalf("after ops=write: GET %d, PUT %d, want 200 and 200", g, p)
	}
	write("ops=read\n")
	n.reload()
	if g, p := code("GET", "/v1/status"), code("PUT", "/v1/kv/b/k"); g != 200 || p != http.StatusForbidden {
		t.Fatalf("after ops=read: GET %d, PUT %d, want 200 and 403", g, p)
	}
	for _, bad := range []string{"ops=superuser\n", "ops=write\nadmin-cli=read\n"} {
		write(bad)
		n.reload()
		if p := code("PUT", "/v1/kv/b/k"); p != http.StatusForbidden {
			t.Fatalf("after a file that should not load (%q): PUT %d, want 403 (ops still read)", bad, p)
		}
	}
	write("ops=admin\n")
	if err := os.Chmod(roles, 0o666); err != nil {
		t.Fatal(err)
	}
	n.reload()
	if p := code("PUT", "/v1/kv/b/k"); p != http.StatusForbidden {
		t.Fatalf("after a file others may change: PUT %d, want 403 (ops still read)", p)
	}
	if err := os.Chmod(roles, 0o644); err != nil {
		t.Fatal(err)
	}
	write("")
	n.reload()
	if c := code("GET", "/v1/status"); c != http.StatusUnauthorized {
		t.Fatalf("after the role was taken away: %d, want 401", c)
	}
}
