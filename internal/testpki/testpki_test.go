package testpki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"
)

// A site certificate verifies against its own CA and not another's, and
// the files written load as a TLS key pair.
func TestIssueVerifiesOnlyAgainstItsCA(t *testing.T) {
	ca, err := NewCA("group")
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	der, _, err := ca.Issue("site-1")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	opts := func(p *x509.CertPool) x509.VerifyOptions {
		return x509.VerifyOptions{Roots: p, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	}
	if _, err := cert.Verify(opts(ca.Pool)); err != nil {
		t.Fatalf("does not verify against its CA: %v", err)
	}
	if _, err := cert.Verify(opts(other.Pool)); err == nil {
		t.Fatal("verifies against another CA")
	}
	dir := t.TempDir()
	certFile, keyFile, err := ca.WriteSite(dir, "site-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Fatalf("written pair does not load: %v", err)
	}
	caFile, err := ca.WriteCA(dir, "ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(caFile)
	if blk, _ := pem.Decode(b); blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatalf("CA file is not a PEM certificate: %q", b)
	}
}
