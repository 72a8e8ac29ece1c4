package main

// Reloading credentials without a restart (SIGHUP), as PostgreSQL
// reloads pg_hba.conf, pg_ident.conf and its certificate: --auth-tokens,
// --auth-cert-roles-file (the roles of --auth-cert-roles, a flag, stay as
// started), the HTTP and RESP ports' certificate
// (--http-tls-cert/--http-tls-key) and client CA (--http-client-ca), the
// replication port's certificate (--tls-cert/--tls-key) and CA
// (--tls-ca), and the group secret (--group-secret-file, whose file may
// hold the next or the previous secret beside the current one, one a
// line: the first is proved, every one accepted, and a rotation is three
// reloads of every site, docs/security.md; a reload cannot turn the
// secret on or off). Restarting a master to rotate a credential costs
// the group a failover; a reload costs nothing. Connections already open
// keep the credentials they were admitted with, except that a token or
// a certificate role taken away stops working on the RESP connections
// using it; every request and handshake after the reload checks the new
// ones. What fails to load keeps what was in use, and the log says which
// file and why.

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
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

// caFile is a CA bundle read from a file, read again by a reload;
// handshakes verify against whichever pool was read last.
type caFile struct {
	flag, path string
	cur        atomic.Pointer[x509.CertPool]
}

func loadCAFile(flag, path string) (*caFile, error) {
	c := &caFile{flag: flag, path: path}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// reload reads the bundle again; on an error the pool in use stays.
func (c *caFile) reload() error {
	pool, err := readPool(c.flag, c.path)
	if err != nil {
		return err
	}
	c.cur.Store(pool)
	return nil
}

// readPool reads a PEM bundle of CA certificates; flag names it in the
// errors.
func readPool(flag, path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", flag, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s: no PEM certificate found", flag, path)
	}
	return pool, nil
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
	if n.auth != nil && n.auth.security.AuthCertRolesFile != "" {
		if k, err := n.auth.loadCertRoles(); err != nil {
			n.log.Error("reload: --auth-cert-roles-file not reloaded; the roles in use stay", "err", err)
		} else {
			n.log.Info("reload: --auth-cert-roles-file reloaded", "file", n.auth.security.AuthCertRolesFile, "common_names", k)
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
	if c := n.httpCA; c != nil {
		n.reloadCA(c, nil)
	}
	if c := n.replCA; c != nil {
		n.reloadCA(c, func() error { return n.tr.SetTLS(replTLS(n.replCert, c.cur.Load())) })
	}
	if f := n.cfg.GroupSecretFile; f != "" {
		secret, accepted, err := loadGroupSecret(n.cfg.Security)
		if err == nil {
			err = n.tr.SetGroupSecret(secret, accepted)
		}
		if err != nil {
			n.log.Error("reload: group secret not reloaded; the one in use stays", "err", err)
		} else {
			n.log.Info("reload: group secret reloaded", "file", f, "also_accepted", len(accepted))
		}
	}
}

// reloadCA reads a CA bundle again and hands it on with apply (nil: its
// users read the pool at each handshake).
func (n *node) reloadCA(c *caFile, apply func() error) {
	err := c.reload()
	if err == nil && apply != nil {
		err = apply()
	}
	if err != nil {
		n.log.Error("reload: CA not reloaded; the one in use stays", "err", err)
		return
	}
	n.log.Info("reload: CA reloaded", "flag", c.flag, "file", c.path)
}
