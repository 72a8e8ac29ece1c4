package main

// Replication identity: which certificate may claim which site id
// (--tls-id-from), and the group secret (--group-secret-file).

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strconv"
	"strings"

	"logship/internal/daemon"
	"logship/rep/transport"
)

// The names a certificate carries for site N (docs/security.md):
//
//	cn:  Subject CommonName "site-N"
//	san: a DNS name "site-N", or a URI "logship://site/N"
const (
	sitePrefix = "site-"
	siteURI    = "logship://site/"
)

// peerVerifier returns the transport's VerifyPeer for --tls-id-from:
// the peer's verified certificate must name the site id its hello
// claims. nil for "" (any certificate of the group's CA may claim any
// id). The transport logs the refusal with the error, which says what
// the certificate names instead.
func peerVerifier(rule string) func(transport.ID, tls.ConnectionState) error {
	var names func(*x509.Certificate) []string
	switch rule {
	case "cn":
		names = func(c *x509.Certificate) []string { return []string{c.Subject.CommonName} }
	case "san":
		names = func(c *x509.Certificate) []string {
			out := append([]string(nil), c.DNSNames...)
			for _, u := range c.URIs {
				out = append(out, u.String())
			}
			return out
		}
	default:
		return nil
	}
	return func(id transport.ID, cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("no peer certificate")
		}
		got := names(cs.PeerCertificates[0])
		ids := map[uint64]bool{}
		for _, n := range got {
			if v, ok := siteIDOf(n, rule); ok {
				ids[v] = true
			}
		}
		if ids[uint64(id)] && len(ids) == 1 {
			return nil
		}
		switch {
		case len(ids) == 0:
			return fmt.Errorf("--tls-id-from %s: the certificate names no site (%s: %q); site %d needs %s", rule, ruleField(rule), got, id, wantName(rule, uint64(id)))
		case len(ids) > 1:
			return fmt.Errorf("--tls-id-from %s: the certificate names several sites (%q); it must name exactly one", rule, got)
		}
		return fmt.Errorf("--tls-id-from %s: the connection claims site %d but the certificate names another site (%s: %q)", rule, id, ruleField(rule), got)
	}
}

// siteIDOf reads a site id from one certificate name under rule.
func siteIDOf(name, rule string) (uint64, bool) {
	var digits string
	switch {
	case strings.HasPrefix(name, sitePrefix):
		digits = name[len(sitePrefix):]
	case rule == "san" && strings.HasPrefix(name, siteURI):
		digits = name[len(siteURI):]
	default:
		return 0, false
	}
	// Plain decimal only: "site-03" or "site-+3" must not pass for site 3.
	if digits == "" || digits[0] == '0' || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, false
	}
	v, err := strconv.ParseUint(digits, 10, 64)
	return v, err == nil && v != 0
}

func ruleField(rule string) string {
	if rule == "cn" {
		return "CommonName"
	}
	return "subject alternative names"
}

func wantName(rule string, id uint64) string {
	if rule == "cn" {
		return fmt.Sprintf("CommonName %s%d", sitePrefix, id)
	}
	return fmt.Sprintf("DNS name %s%d or URI %s%d", sitePrefix, id, siteURI, id)
}

// loadGroupSecret reads --group-secret-file: one secret a line, without
// surrounding white space (blank lines are skipped). The first is the one
// this site proves; the others it also accepts from peers, for a
// rotation (docs/security.md). nil without the flag.
func loadGroupSecret(s daemon.Security) (secret []byte, accepted [][]byte, err error) {
	if s.GroupSecretFile == "" {
		return nil, nil, nil
	}
	if err := daemon.CheckSecretFile("group-secret-file", s.GroupSecretFile); err != nil {
		return nil, nil, err
	}
	b, err := os.ReadFile(s.GroupSecretFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--group-secret-file: %v", err)
	}
	var lines [][]byte
	for i, l := range bytes.Split(b, []byte("\n")) {
		l = bytes.TrimSpace(l)
		if len(l) == 0 {
			continue
		}
		if len(l) < transport.MinGroupSecret {
			return nil, nil, fmt.Errorf("--group-secret-file %s: the secret on line %d is %d bytes, need at least %d (e.g. openssl rand -hex 32)", s.GroupSecretFile, i+1, len(l), transport.MinGroupSecret)
		}
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		return nil, nil, fmt.Errorf("--group-secret-file %s: no secret in it (e.g. openssl rand -hex 32)", s.GroupSecretFile)
	}
	return lines[0], lines[1:], nil
}
