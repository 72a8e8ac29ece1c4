package main

// How repadmin reaches a repnode whose HTTP port has credentials or TLS
// (docs/security.md): a bearer token (--token, LOGSHIP_TOKEN, or
// --token-file) sent with every request, and HTTPS (--tls, or implied by
// --cacert or --cert) with the CA to trust and an optional client
// certificate. Every request goes through newRequest and httpClient.

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// connFlags are the global flags about credentials and TLS.
type connFlags struct {
	token, tokenFile     string
	useTLS               bool
	caCert, cert, keyPEM string
}

// remote is what newRequest uses: set once by setupConn.
var remote struct {
	scheme string
	token  string
}

func init() { remote.scheme = "http" }

// bindConnFlags registers the credential and TLS flags on g.
func bindConnFlags(g *flag.FlagSet) *connFlags {
	f := &connFlags{}
	g.StringVar(&f.token, "token", os.Getenv("LOGSHIP_TOKEN"), "bearer token for a repnode with --auth-tokens (default $LOGSHIP_TOKEN)")
	g.StringVar(&f.tokenFile, "token-file", "", "read the bearer token from this file")
	g.BoolVar(&f.useTLS, "tls", false, "HTTPS to the repnode (implied by --cacert or --cert)")
	g.StringVar(&f.caCert, "cacert", "", "CA certificate (PEM) to verify the repnode's HTTPS certificate (default: the system's)")
	g.StringVar(&f.cert, "cert", "", "client certificate (PEM) for a repnode with --http-client-ca; with --key")
	g.StringVar(&f.keyPEM, "key", "", "client certificate's private key (PEM)")
	return f
}

// setupConn applies the flags to every request repadmin makes.
func setupConn(f *connFlags) error {
	remote.token = f.token
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return fmt.Errorf("--token-file: %w", err)
		}
		remote.token = strings.TrimSpace(string(b))
		if remote.token == "" {
			return fmt.Errorf("--token-file %s: empty", f.tokenFile)
		}
	}
	if (f.cert == "") != (f.keyPEM == "") {
		return usageError{"--cert and --key go together"}
	}
	if !f.useTLS && f.caCert == "" && f.cert == "" {
		remote.scheme, httpClient.Transport = "http", nil
		return nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.caCert != "" {
		pem, err := os.ReadFile(f.caCert)
		if err != nil {
			return fmt.Errorf("--cacert: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--cacert %s: no PEM certificate found", f.caCert)
		}
	}
	if f.cert != "" {
		c, err := tls.LoadX509KeyPair(f.cert, f.keyPEM)
		if err != nil {
			return fmt.Errorf("--cert/--key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = cfg
	httpClient.Transport = t
	remote.scheme = "https"
	return nil
}

// newRequest builds a request to the repnode at node, with the scheme and
// token the flags set.
func newRequest(method, node, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequest(method, remote.scheme+"://"+node+path, body)
	if err != nil {
		return nil, err
	}
	if remote.token != "" {
		req.Header.Set("Authorization", "Bearer "+remote.token)
	}
	return req, nil
}

// authHint adds what to check to a 401 or 403 from the repnode.
func authHint(code int) string {
	switch code {
	case http.StatusUnauthorized:
		if remote.token == "" {
			return " (the repnode wants a token: --token, LOGSHIP_TOKEN or --token-file)"
		}
		return " (the repnode does not know this token)"
	case http.StatusForbidden:
		return " (this token's role is too low for the command; admin commands need an admin token)"
	}
	return ""
}
