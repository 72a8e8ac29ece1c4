package main

// Credentials on the RESP listener: the tokens of --auth-tokens, sent with
// AUTH, and the client certificates of --auth-cert-roles(-file) when the port
// runs TLS (it takes the HTTP port's certificate and client CA). Roles
// are HTTP's: read runs the reads, write the writes too; nothing on this
// port needs admin.

import (
	"crypto/tls"
	"fmt"

	"github.com/tidwall/redcon"
)

// need is the role a command needs.
func (c *respCmd) need() role {
	switch {
	case c.open:
		return roleNone
	case c.write != nil:
		return roleWrite
	}
	return roleRead
}

// allowed answers "" if this connection may run the command, else the
// error to answer: NOAUTH before any credential, NOPERM for a role too
// low (Redis's words for both, which clients know).
func (rc *respConn) allowed(spec *respCmd, name string) string {
	rc.recheck()
	need := spec.need()
	if rc.role >= need {
		return ""
	}
	if !rc.tls && rc.nc != nil {
		// Looked up at the first command, when the handshake is done.
		rc.tls = true
		if tc, ok := rc.nc.Conn.(*tls.Conn); ok {
			cs := tc.ConnectionState()
			rc.cert = &cs
			rc.certRole = rc.s.n.auth.certRole(rc.cert)
			rc.role = max(rc.role, rc.certRole)
			if rc.role >= need {
				return ""
			}
		}
	}
	if rc.role == roleNone {
		return "NOAUTH Authentication required: send AUTH with a token of --auth-tokens"
	}
	return fmt.Sprintf("NOPERM this connection's role (%s) may not run '%s', which needs the %s role", rc.role, name, need)
}

// cmdAuth is AUTH [username] token. The user name, which Redis 6 clients
// send, is not checked: the token alone decides the role, as on HTTP.
func cmdAuth(rc *respConn, _ redcon.Conn, args [][]byte) (respReply, string) {
	if len(args) > 3 {
		return fail("ERR syntax error: AUTH [username] token")
	}
	if rc.s.n.auth == nil {
		return fail("ERR AUTH: this listener has no credentials configured (--auth-tokens); every client may run every command")
	}
	tok := string(args[len(args)-1])
	r, known := rc.s.n.auth.roleOf(tok)
	if !known {
		return fail("WRONGPASS unknown token")
	}
	rc.role = max(r, rc.certRole)
	rc.authTok, rc.authGen = tok, rc.s.n.auth.gen.Load()
	return ok(replyOK)
}

// recheck checks the connection's AUTH token and certificate again once
// the credentials were reloaded (SIGHUP): a token removed from the file,
// or a certificate's role taken away, stops working on the connections
// already using it, not only on new ones.
func (rc *respConn) recheck() {
	a := rc.s.n.auth
	if a == nil || rc.authTok == "" && rc.cert == nil {
		return
	}
	g := a.gen.Load()
	if g == rc.authGen {
		return
	}
	rc.authGen = g
	r := roleNone
	if rc.authTok != "" {
		var known bool
		if r, known = a.roleOf(rc.authTok); !known {
			rc.authTok = ""
		}
	}
	if rc.cert != nil {
		rc.certRole = a.certRole(rc.cert)
	}
	rc.role = max(r, rc.certRole)
}
