package main

import (
	"bufio"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRESPAuth: with --auth-tokens a RESP connection runs nothing but
// AUTH, HELLO and QUIT until it sends a known token, and then only what
// the token's role allows; without credentials configured AUTH says so.
func TestRESPAuth(t *testing.T) {
	tokens := writeTokens(t)
	_, rs := startRESPSingle(t, func(c *Config) { c.AuthTokens = tokens })
	c := dialRESP(t, rs.addr)
	wantErrPrefix(t, "GET before AUTH", c.do("GET", "k"), "NOAUTH")
	wantErrPrefix(t, "SET before AUTH", c.do("SET", "k", "v"), "NOAUTH")
	wantErrPrefix(t, "PING before AUTH", c.do("PING"), "NOAUTH")
	wantErrPrefix(t, "AUTH with an unknown token", c.do("AUTH", "not-a-token-0123456789"), "WRONGPASS")
	wantErrPrefix(t, "GET after a refused AUTH", c.do("GET", "k"), "NOAUTH")

	wantReply(t, "AUTH read", c.do("AUTH", readTok), "OK")
	wantReply(t, "GET with read", c.do("GET", "k"), nil)
	wantErrPrefix(t, "SET with read", c.do("SET", "k", "v"), "NOPERM")
	wantErrPrefix(t, "INCR with read", c.do("INCR", "n"), "NOPERM")

	// Redis 6 clients send a user name too; the token decides.
	wantReply(t, "AUTH user write", c.do("AUTH", "default", writeTok), "OK")
	wantReply(t, "SET with write", c.do("SET", "k", "v"), "OK")
	wantReply(t, "GET after SET", c.do("GET", "k"), "v")

	// A pipeline that authenticates first runs the rest under that role.
	p := dialRESP(t, rs.addr)
	p.send([]string{"AUTH", writeTok}, []string{"SET", "p", "1"}, []string{"INCR", "p"})
	wantReply(t, "pipelined AUTH", p.read(), "OK")
	wantReply(t, "pipelined SET", p.read(), "OK")
	wantReply(t, "pipelined INCR", p.read(), int64(2))

	_, open := startRESPSingle(t, nil)
	o := dialRESP(t, open.addr)
	wantReply(t, "SET without credentials configured", o.do("SET", "k", "v"), "OK")
	wantErrPrefix(t, "AUTH without credentials configured", o.do("AUTH", readTok), "ERR")
}

// TestRESPTLS: with --http-tls-cert the RESP port speaks TLS only, with
// the HTTP port's certificate and client CA; a client certificate named
// in --auth-cert-roles stands for its role, as on HTTP.
func TestRESPTLS(t *testing.T) {
	ca, caFile, cert, key := httpsFiles(t)
	tokens := writeTokens(t)
	_, rs := startRESPSingle(t, func(c *Config) {
		c.HTTPTLSCert, c.HTTPTLSKey, c.HTTPClientCA = cert, key, caFile
		c.AuthTokens, c.AuthCertRoles = tokens, "ops=write,app=read"
	})
	dialTLS := func(cfg *tls.Config) *respClient {
		t.Helper()
		nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", rs.addr, cfg)
		if err != nil {
			t.Fatalf("TLS dial: %v", err)
		}
		t.Cleanup(func() { nc.Close() })
		return &respClient{t: t, c: nc, rd: bufio.NewReader(nc)}
	}

	plain := dialRESP(t, rs.addr)
	plain.send([]string{"PING"})
	plain.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if v, err := readRESP(plain.rd); err == nil {
		t.Fatalf("plain RESP on the TLS port answered %v", v)
	}

	app := dialTLS(clientCert(t, ca, "app", ca))
	wantReply(t, "GET with a read certificate", app.do("GET", "k"), nil)
	wantErrPrefix(t, "SET with a read certificate", app.do("SET", "k", "v"), "NOPERM")
	wantReply(t, "AUTH write over a read certificate", app.do("AUTH", writeTok), "OK")
	wantReply(t, "SET after AUTH write", app.do("SET", "k", "v"), "OK")

	ops := dialTLS(clientCert(t, ca, "ops", ca))
	wantReply(t, "SET with a write certificate", ops.do("SET", "k2", "v"), "OK")

	nobody := dialTLS(clientCert(t, ca, "nobody", ca))
	wantErrPrefix(t, "GET with a certificate without a role", nobody.do("GET", "k"), "NOAUTH")
}

// TestRESPReloadedTokens: after a reload (SIGHUP), a connection that
// authenticated with a token removed from the file is refused, one whose
// token stays keeps its role, and the new token works.
func TestRESPReloadedTokens(t *testing.T) {
	tokens := writeTokens(t)
	n, rs := startRESPSingle(t, func(c *Config) { c.AuthTokens = tokens })
	removed, kept := dialRESP(t, rs.addr), dialRESP(t, rs.addr)
	wantReply(t, "AUTH write", removed.do("AUTH", writeTok), "OK")
	wantReply(t, "AUTH read", kept.do("AUTH", readTok), "OK")
	wantReply(t, "SET before the reload", removed.do("SET", "k", "v"), "OK")

	const newTok = "rotated-write-token-0123456789"
	if err := os.WriteFile(tokens, []byte("read "+readTok+"\nwrite "+newTok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n.reload()
	wantErrPrefix(t, "SET on the connection of a removed token", removed.do("SET", "k", "w"), "NOAUTH")
	wantReply(t, "GET on the connection of a kept token", kept.do("GET", "k"), "v")
	wantReply(t, "AUTH with the new token", removed.do("AUTH", newTok), "OK")
	wantReply(t, "SET with the new token", removed.do("SET", "k", "w"), "OK")
}

// TestRESPReloadedCertRoles: after a reload (SIGHUP) of
// --auth-cert-roles-file, a TLS connection whose certificate's role was
// lowered runs only what the new role allows, and one whose certificate
// was given a role runs it, without reconnecting.
func TestRESPReloadedCertRoles(t *testing.T) {
	ca, caFile, cert, key := httpsFiles(t)
	roles := filepath.Join(t.TempDir(), "cert-roles")
	if err := os.WriteFile(roles, []byte("ops=write\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n, rs := startRESPSingle(t, func(c *Config) {
		c.HTTPTLSCert, c.HTTPTLSKey, c.HTTPClientCA = cert, key, caFile
		c.AuthCertRolesFile = roles
	})
	dialTLS := func(cn string) *respClient {
		t.Helper()
		nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", rs.addr, clientCert(t, ca, cn, ca))
		if err != nil {
			t.Fatalf("TLS dial: %v", err)
		}
		t.Cleanup(func() { nc.Close() })
		return &respClient{t: t, c: nc, rd: bufio.NewReader(nc)}
	}
	ops, app := dialTLS("ops"), dialTLS("app")
	wantReply(t, "SET with a write certificate", ops.do("SET", "k", "v"), "OK")
	wantErrPrefix(t, "GET with a certificate without a role", app.do("GET", "k"), "NOAUTH")

	if err := os.WriteFile(roles, []byte("ops=read\napp=read\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n.reload()
	wantErrPrefix(t, "SET after the certificate's role was lowered", ops.do("SET", "k", "w"), "NOPERM")
	wantReply(t, "GET after the certificate's role was lowered", ops.do("GET", "k"), "v")
	wantReply(t, "GET after the certificate was given a role", app.do("GET", "k"), "v")
}
