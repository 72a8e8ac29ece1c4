package main

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"logship/cmd/internal/api"
	"logship/internal/testpki"
)

// secureNode serves /v1/status over HTTPS with a certificate from a test
// CA, demanding a client certificate from that CA and the bearer token
// tok. It returns the address and the files repadmin needs.
func secureNode(t *testing.T, tok string) (node, caFile, certFile, keyFile string) {
	t.Helper()
	ca, err := testpki.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if caFile, err = ca.WriteCA(dir, "ca.pem"); err != nil {
		t.Fatal(err)
	}
	srvCert, srvKey, err := ca.WriteSite(dir, "server")
	if err != nil {
		t.Fatal(err)
	}
	if certFile, keyFile, err = ca.WriteSite(dir, "operator"); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+tok {
			w.Header().Set("WWW-Authenticate", "Bearer")
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(api.ErrorBody{Error: "auth: credentials required"})
			return
		}
		json.NewEncoder(w).Encode(api.Status{ID: 4, Role: "master", Gen: 2, Sites: []api.Site{}})
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: ca.Pool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "https://"), caFile, certFile, keyFile
}

// TestRepadminTokenAndTLS: repadmin reaches a node with HTTPS, client
// certificates and tokens with --cacert, --cert/--key and a token from
// --token, LOGSHIP_TOKEN or --token-file; a missing token gets a 401 with
// a hint, and plain HTTP gets nothing.
func TestRepadminTokenAndTLS(t *testing.T) {
	const tok = "operator-token-0123456789"
	node, ca, cert, key := secureNode(t, tok)
	tls := []string{"--node", node, "--cacert", ca, "--cert", cert, "--key", key}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := func(name string, args ...string) {
		t.Helper()
		code, out, errs := runCmd(append(append(append([]string{}, tls...), args...), "status")...)
		if code != 0 || !strings.Contains(out, "site 4") {
			t.Errorf("%s: exit %d\n%s%s", name, code, out, errs)
		}
	}
	ok("--token", "--token", tok)
	ok("--token-file", "--token-file", tokenFile)
	t.Setenv("LOGSHIP_TOKEN", tok)
	ok("LOGSHIP_TOKEN")
	t.Setenv("LOGSHIP_TOKEN", "")

	code, _, errs := runCmd(append(append([]string{}, tls...), "status")...)
	if code != 1 || !strings.Contains(errs, "401") || !strings.Contains(errs, "--token") {
		t.Errorf("no token: exit %d, %q: want 1 and a hint about --token", code, errs)
	}
	if code, _, _ := runCmd("--node", node, "--cacert", ca, "--token", tok, "status"); code == 0 {
		t.Error("without a client certificate repadmin was served")
	}
	if code, _, _ := runCmd("--node", node, "--token", tok, "status"); code == 0 {
		t.Error("plain HTTP to an HTTPS node was served")
	}
	if code, _, _ := runCmd("--node", node, "--cert", cert, "status"); code != 2 {
		t.Errorf("--cert without --key: exit %d, want 2", code)
	}
}
