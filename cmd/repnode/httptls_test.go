package main

import (
	"crypto/tls"
	"net/http"
	"testing"

	"logship/internal/testpki"
)

// httpsFiles writes a CA and a server certificate for 127.0.0.1.
func httpsFiles(t *testing.T) (ca *testpki.CA, caFile, cert, key string) {
	t.Helper()
	ca = newTestCA(t)
	dir := t.TempDir()
	caFile, err := ca.WriteCA(dir, "ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err = ca.WriteSite(dir, "repnode-http")
	if err != nil {
		t.Fatal(err)
	}
	return ca, caFile, cert, key
}

func clientCert(t *testing.T, ca *testpki.CA, cn string, trust *testpki.CA) *tls.Config {
	t.Helper()
	c, err := ca.TLSConfig(cn, trust.Pool)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestHTTPTLS: with --http-tls-cert the port speaks HTTPS only; a client
// trusting the CA is served, a plain-HTTP request is not.
func TestHTTPTLS(t *testing.T) {
	ca, _, cert, key := httpsFiles(t)
	_, url := startFront(t, func(c *Config) { c.HTTPTLSCert, c.HTTPTLSKey = cert, key })
	if code, body, _ := doAuth(t, tlsClient(&tls.Config{RootCAs: ca.Pool}), "GET", url+"/v1/status", "", ""); code != 200 {
		t.Fatalf("HTTPS GET /v1/status: %d %s", code, body)
	}
	plain := "http://" + url[len("https://"):]
	if code, _, _ := doAuth(t, http.DefaultClient, "GET", plain+"/v1/status", "", ""); code == 200 {
		t.Fatal("plain HTTP was served on the HTTPS port")
	}
	if _, err := tlsClient(&tls.Config{RootCAs: newTestCA(t).Pool}).Get(url + "/v1/status"); err == nil {
		t.Fatal("a client not trusting the server's CA got an answer")
	}
}

// TestHTTPClientCertificates: with --http-client-ca a client must show a
// certificate from that CA; with --auth-cert-roles its common name stands
// for a role (a bearer token, when sent, decides instead).
func TestHTTPClientCertificates(t *testing.T) {
	ca, caFile, cert, key := httpsFiles(t)
	tokens := writeTokens(t)
	_, url := startFront(t, func(c *Config) {
		c.HTTPTLSCert, c.HTTPTLSKey, c.HTTPClientCA = cert, key, caFile
		c.AuthTokens, c.AuthCertRoles = tokens, "ops=admin,app=read"
	})
	if _, err := tlsClient(&tls.Config{RootCAs: ca.Pool}).Get(url + "/v1/status"); err == nil {
		t.Fatal("a client without a certificate got an answer")
	}
	rogue := newTestCA(t)
	if _, err := tlsClient(clientCert(t, rogue, "ops", ca)).Get(url + "/v1/status"); err == nil {
		t.Fatal("a client certificate from another CA got an answer")
	}
	ops, app, nobody := tlsClient(clientCert(t, ca, "ops", ca)), tlsClient(clientCert(t, ca, "app", ca)), tlsClient(clientCert(t, ca, "nobody", ca))
	for _, c := range []struct {
		name         string
		client       *http.Client
		method, path string
		token        string
		want         int
	}{
		{"admin certificate archives", ops, "POST", "/v1/admin/archive", "", 200},
		{"admin certificate writes", ops, "PUT", "/v1/kv/b/k", "", 200},
		{"read certificate reads", app, "GET", "/v1/kv/b/k", "", 200},
		{"read certificate cannot write", app, "PUT", "/v1/kv/b/k", "", 403},
		{"read certificate cannot archive", app, "POST", "/v1/admin/archive", "", 403},
		{"certificate without a role", nobody, "GET", "/v1/status", "", 401},
		{"token decides over the certificate", app, "POST", "/v1/admin/archive", adminTok, 200},
		{"bad token with a good certificate", ops, "GET", "/v1/status", "not-a-token-0123456789", 401},
	} {
		body := ""
		if c.method == "PUT" {
			body = "v"
		}
		if code, body, _ := doAuth(t, c.client, c.method, url+c.path, c.token, body); code != c.want {
			t.Errorf("%s: %s %s: %d %s, want %d", c.name, c.method, c.path, code, body, c.want)
		}
	}
}
