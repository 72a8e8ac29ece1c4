package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// CA is a certificate authority made up for one test.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// Pool holds Cert alone: what a site of this CA's group trusts.
	Pool *x509.CertPool
}

// NewCA makes a self-signed CA named name.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testpki: CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("testpki: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("testpki: CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, Key: key, Pool: pool}, nil
}

// Issue signs a site certificate with common name name and returns it
// (DER) with its key.
func (ca *CA) Issue(name string) ([]byte, *ecdsa.PrivateKey, error) {
	return ca.IssueSAN(name, nil, nil)
}

// IssueSAN is Issue with extra subject alternative names: DNS names
// (besides "localhost") and URIs such as "logship://site/3".
func (ca *CA) IssueSAN(name string, dns, uris []string) ([]byte, *ecdsa.PrivateKey, error) {
	var us []*url.URL
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			return nil, nil, fmt.Errorf("testpki: URI %q: %w", s, err)
		}
		us = append(us, u)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("testpki: key for %s: %w", name, err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, nil, fmt.Errorf("testpki: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     append([]string{"localhost"}, dns...),
		URIs:         us,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("testpki: certificate for %s: %w", name, err)
	}
	return der, key, nil
}

// TLSConfig issues a certificate named name and returns a mutual-TLS
// configuration presenting it and trusting trust.
func (ca *CA) TLSConfig(name string, trust *x509.CertPool) (*tls.Config, error) {
	der, key, err := ca.Issue(name)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		RootCAs:      trust,
		ClientCAs:    trust,
	}, nil
}

// TLSConfigSAN is TLSConfig for a certificate with extra DNS names and
// URIs (IssueSAN).
func (ca *CA) TLSConfigSAN(name string, dns, uris []string, trust *x509.CertPool) (*tls.Config, error) {
	der, key, err := ca.IssueSAN(name, dns, uris)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		RootCAs:      trust,
		ClientCAs:    trust,
	}, nil
}

// WriteCA writes the CA's certificate as PEM to dir/name and returns the
// path (a --tls-ca file).
func (ca *CA) WriteCA(dir, name string) (string, error) {
	return writePEM(dir, name, "CERTIFICATE", ca.Cert.Raw)
}

// WriteSite issues a certificate named name and writes it and its key as
// PEM under dir; it returns their paths (--tls-cert, --tls-key).
func (ca *CA) WriteSite(dir, name string) (certFile, keyFile string, err error) {
	der, key, err := ca.Issue(name)
	if err != nil {
		return "", "", err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("testpki: key for %s: %w", name, err)
	}
	if certFile, err = writePEM(dir, name+".pem", "CERTIFICATE", der); err != nil {
		return "", "", err
	}
	keyFile, err = writePEM(dir, name+".key", "EC PRIVATE KEY", kb)
	return certFile, keyFile, err
}

func writePEM(dir, name, typ string, der []byte) (string, error) {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		return "", fmt.Errorf("testpki: %w", err)
	}
	return path, nil
}
