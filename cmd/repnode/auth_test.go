package main

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"logship/internal/daemon"
)

const (
	readTok  = "read-token-0123456789"
	writeTok = "write-token-0123456789"
	adminTok = "admin-token-0123456789"
)

// writeTokens writes a token file (mode 600) in both line orders.
func writeTokens(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tokens")
	body := "# operators\nadmin " + adminTok + "\n\n" + writeTok + " write\nread " + readTok + "  # dashboards\n"
	body = strings.Replace(body, "  # dashboards", "", 1)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startFront runs a one-site master in-process behind the real HTTP
// front (listenHTTP: TLS, credentials, limits) on 127.0.0.1, and returns
// the node and its base URL (http or https).
func startFront(t *testing.T, mutate func(*Config)) (*node, string) {
	t.Helper()
	n, cfg, log := openSingle(t, mutate)
	f, err := n.listenHTTP(cfg, n.routes(), log)
	if err != nil {
		n.close()
		t.Fatal(err)
	}
	served := f.serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := f.shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
		if err := n.close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	scheme := "http://"
	if cfg.HTTPTLSCert != "" {
		scheme = "https://"
	}
	return n, scheme + f.ln.Addr().String()
}

// doAuth sends one request with a bearer token ("" = none) through c.
func doAuth(t *testing.T, c *http.Client, method, url, token, body string) (int, string, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// TestAuthRoles: with --auth-tokens every route needs a token of a high
// enough role: reads read, writes write, admin and profiles admin. No
// token or an unknown one is 401 with WWW-Authenticate: Bearer; a token
// of too low a role is 403; both with a JSON error. /metrics stays open
// unless --metrics-auth.
func TestAuthRoles(t *testing.T) {
	tokens := writeTokens(t)
	_, url := startFront(t, func(c *Config) { c.AuthTokens = tokens; c.Pprof = true })
	cases := []struct {
		method, path, token, body string
		want                      int
	}{
		{"GET", "/v1/status", "", "", 401},
		{"GET", "/v1/status", "not-a-token-0123456789", "", 401},
		{"GET", "/v1/status", readTok, "", 200},
		{"GET", "/v1/stats", readTok, "", 200},
		{"PUT", "/v1/kv/b/k", "", "v", 401},
		{"PUT", "/v1/kv/b/k", readTok, "v", 403},
		{"PUT", "/v1/kv/b/k", writeTok, "v", 200},
		{"PUT", "/v1/kv/b/k2", adminTok, "v", 200},
		{"GET", "/v1/kv/b/k", readTok, "", 200},
		{"GET", "/v1/kv/b/k", "", "", 401},
		{"DELETE", "/v1/kv/b/k2", readTok, "", 403},
		{"DELETE", "/v1/kv/b/k2", writeTok, "", 200},
		{"POST", "/v1/admin/sync", "", "", 401},
		{"POST", "/v1/admin/sync", readTok, "", 403},
		{"POST", "/v1/admin/sync", writeTok, "", 403},
		{"POST", "/v1/admin/elect", writeTok, "", 403},
		{"POST", "/v1/admin/transfer", writeTok, `{"to":2}`, 403},
		{"POST", "/v1/admin/priority", writeTok, `{"priority":5}`, 403},
		{"POST", "/v1/admin/archive", writeTok, "", 403},
		{"POST", "/v1/admin/archive", adminTok, "", 200},
		{"GET", "/debug/pprof/", writeTok, "", 403},
		{"GET", "/debug/pprof/", adminTok, "", 200},
		{"GET", "/metrics", "", "", 200},
	}
	for _, c := range cases {
		code, body, hdr := doAuth(t, http.DefaultClient, c.method, url+c.path, c.token, c.body)
		tok := c.token
		if len(tok) > 5 {
			tok = tok[:5]
		}
		if code != c.want {
			t.Errorf("%s %s (token %q): %d %s, want %d", c.method, c.path, tok, code, body, c.want)
			continue
		}
		switch code {
		case 401:
			if hdr.Get("WWW-Authenticate") == "" || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s: 401 without WWW-Authenticate: Bearer (%q)", c.method, c.path, hdr.Get("WWW-Authenticate"))
			}
			fallthrough
		case 403:
			if !strings.Contains(body, `"error"`) || hdr.Get("Content-Type") != "application/json" {
				t.Errorf("%s %s: %d body %q is not the JSON error", c.method, c.path, code, body)
			}
		}
	}
}

// TestMetricsAuthAndListener: --metrics-auth closes /metrics on --http
// to callers without the read role; --metrics-listen serves /metrics and
// /healthz without credentials, and nothing else.
func TestMetricsAuthAndListener(t *testing.T) {
	tokens := writeTokens(t)
	maddr := freeAddr(t)
	_, url := startFront(t, func(c *Config) { c.AuthTokens, c.MetricsAuth, c.MetricsListen = tokens, true, maddr })
	if code, _, _ := doAuth(t, http.DefaultClient, "GET", url+"/metrics", "", ""); code != 401 {
		t.Errorf("GET /metrics without a token: %d, want 401", code)
	}
	if code, _, _ := doAuth(t, http.DefaultClient, "GET", url+"/metrics", readTok, ""); code != 200 {
		t.Errorf("GET /metrics with a read token: %d, want 200", code)
	}
	if code, body, _ := doAuth(t, http.DefaultClient, "GET", "http://"+maddr+"/metrics", "", ""); code != 200 || !strings.Contains(body, "logship_") {
		t.Errorf("GET /metrics on --metrics-listen: %d", code)
	}
	if code, _, _ := doAuth(t, http.DefaultClient, "GET", "http://"+maddr+"/healthz", "", ""); code != 200 {
		t.Errorf("GET /healthz on --metrics-listen: %d", code)
	}
	for _, p := range []string{"/v1/status", "/v1/kv/b/k"} {
		if code, _, _ := doAuth(t, http.DefaultClient, "GET", "http://"+maddr+p, adminTok, ""); code != 404 {
			t.Errorf("GET %s on --metrics-listen: %d, want 404", p, code)
		}
	}
}

// TestNoAuthByDefault: without credentials configured, the documented
// paths work as before, with no header.
func TestNoAuthByDefault(t *testing.T) {
	_, url := startFront(t, nil)
	for _, c := range []struct{ method, path, body string }{
		{"PUT", "/v1/kv/b/k", "v"}, {"GET", "/v1/kv/b/k", ""}, {"GET", "/v1/status", ""}, {"POST", "/v1/admin/archive", ""},
	} {
		if code, body, _ := doAuth(t, http.DefaultClient, c.method, url+c.path, "", c.body); code != 200 {
			t.Errorf("%s %s: %d %s", c.method, c.path, code, body)
		}
	}
}

// TestTokenFile: both line orders and comments parse; the role of each
// token is found; a world-readable file, a short token, a line without a
// role and a duplicate are refused with the file and line.
func TestTokenFile(t *testing.T) {
	a, err := newAuthz(daemon.Security{AuthTokens: writeTokens(t)})
	if err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]role{readTok: roleRead, writeTok: roleWrite, adminTok: roleAdmin} {
		if got, ok := a.roleOf(tok); !ok || got != want {
			t.Errorf("roleOf(%q) = %v, %t; want %v", tok, got, ok, want)
		}
	}
	for _, bad := range []string{"", "admin", readTok + "x", strings.ToUpper(adminTok)} {
		if got, ok := a.roleOf(bad); ok {
			t.Errorf("roleOf(%q) = %v, want unknown", bad, got)
		}
	}
	if _, ok := (*authz)(nil).roleOf(adminTok); ok {
		t.Error("no credentials configured, yet roleOf knows a token")
	}
	dir := t.TempDir()
	for name, c := range map[string]struct {
		body string
		mode os.FileMode
		want string
	}{
		"world-readable": {"admin " + adminTok + "\n", 0o644, "mode 0644"},
		"short":          {"admin short\n", 0o600, ":1: the token is 5 characters"},
		"no role":        {"# x\nroot " + adminTok + "\n", 0o600, ":2: no role"},
		"duplicate":      {"admin " + adminTok + "\nread " + adminTok + "\n", 0o600, ":2: the same token is listed twice"},
		"empty":          {"# nothing\n", 0o600, "no tokens"},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(p, []byte(c.body), c.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, c.mode); err != nil {
			t.Fatal(err)
		}
		_, err := newAuthz(daemon.Security{AuthTokens: p})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), adminTok) {
			t.Errorf("%s: the error shows the token: %v", name, err)
		}
	}
}

// tlsClient is an HTTPS client with cfg (trusted CAs, client certificate).
func tlsClient(cfg *tls.Config) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}
