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

// remote is what newRequest and httpClientFor use: set by setupConn.
var remote struct {
	scheme    string
	token     string
	transport http.RoundTripper // nil: http.DefaultTransport
}

func init() { remote.scheme = "http" }

// bind registers the credential and TLS flags on fs, each defaulting to
// its value so far (they may come before or after the command).
func (f *connFlags) bind(fs *flag.FlagSet) {
	if fs.Lookup("token") != nil {
		return
	}
	fs.StringVar(&f.token, "token", f.token, "bearer token for a repnode with --auth-tokens (default $LOGSHIP_TOKEN)")
	fs.StringVar(&f.tokenFile, "token-file", f.tokenFile, "read the bearer token from this file")
	fs.BoolVar(&f.useTLS, "tls", f.useTLS, "HTTPS to the repnode (implied by --cacert or --cert)")
	fs.StringVar(&f.caCert, "cacert", f.caCert, "CA certificate (PEM) to verify the repnode's HTTPS certificate (default: the system's)")
	fs.StringVar(&f.cert, "cert", f.cert, "client certificate (PEM) for a repnode with --http-client-ca; with --key")
	fs.StringVar(&f.keyPEM, "key", f.keyPEM, "client certificate's private key (PEM)")
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
		remote.scheme, remote.transport = "http", nil
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
	remote.transport = t
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
