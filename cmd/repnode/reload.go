package main

// Reloading credentials without a restart (SIGHUP), as PostgreSQL
// reloads pg_hba.conf and its certificate: --auth-tokens, the HTTP and
// RESP ports' certificate (--http-tls-cert/--http-tls-key) and the
// replication port's (--tls-cert/--tls-key). Restarting a master to
// rotate a token or a certificate costs the group a failover; a reload
// costs nothing. Connections already open keep the credentials they
// were admitted with; every request and handshake after the reload
// checks the new ones. What fails to load keeps what was in use, and
// the log says which file and why.
//
// The CA files (--tls-ca, --http-client-ca) and the token roles of
// certificates (--auth-cert-roles) are read at start only.

import (
	"crypto/tls"
	"fmt"
	"sync/atomic"
)

// certFile is a certificate and key read from files, read again by a
// reload; handshakes present whichever pair was read last.
type certFile struct {
	flag      string // the flags, for messages
	cert, key string
	cur       atomic.Pointer[tls.Certificate]
}

func loadCertFile(flag, cert, key string) (*certFile, error) {
	c := &certFile{flag: flag, cert: cert, key: key}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// reload reads the pair again; on an error the one in use stays.
func (c *certFile) reload() error {
	pair, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		return fmt.Errorf("%s: %v", c.flag, err)
	}
	c.cur.Store(&pair)
	return nil
}

// serve and present give the pair to tls.Config's GetCertificate (a
// server) and GetClientCertificate (a client: the replication port dials
// with the same pair it accepts with).
func (c *certFile) serve(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cur.Load(), nil }

func (c *certFile) present(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return c.cur.Load(), nil
}

// reload reads the credentials again (SIGHUP) and logs what it did.
func (n *node) reload() {
	if n.auth != nil && n.auth.tokensPath != "" {
		if k, err := n.auth.loadTokens(); err != nil {
			n.log.Error("reload: --auth-tokens not reloaded; the tokens in use stay", "err", err)
		} else {
			n.log.Info("reload: --auth-tokens reloaded", "file", n.auth.tokensPath, "tokens", k)
		}
	}
	for _, c := range []*certFile{n.httpCert, n.replCert} {
		if c == nil {
			continue
		}
		if err := c.reload(); err != nil {
			n.log.Error("reload: certificate not reloaded; the one in use stays", "err", err)
		} else {
			n.log.Info("reload: certificate reloaded", "flags", c.flag, "cert", c.cert)
		}
	}
}
