package main

// Authorization on the HTTP port (--auth-tokens, --auth-cert-roles,
// --auth-cert-roles-file).
// A request carries a bearer token (Authorization: Bearer TOKEN) or, on
// HTTPS with --http-client-ca, a client certificate whose common name
// --auth-cert-roles maps to a role. Roles are ordered: admin implies
// write, write implies read. Without either flag every request passes,
// as the external interface promises (docs/security.md).

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"logship/cmd/internal/api"
	"logship/internal/daemon"
)

// role is what a credential may do; each role implies the ones below it.
type role int

const (
	roleNone role = iota
	roleRead
	roleWrite
	roleAdmin
)

func (r role) String() string {
	switch r {
	case roleRead:
		return "read"
	case roleWrite:
		return "write"
	case roleAdmin:
		return "admin"
	}
	return "none"
}

func parseRole(s string) (role, bool) {
	switch s {
	case "read":
		return roleRead, true
	case "write":
		return roleWrite, true
	case "admin":
		return roleAdmin, true
	}
	return roleNone, false
}

// minTokenLen refuses tokens short enough to guess.
const minTokenLen = 16

// Errors check returns; the middleware maps them to 401 and 403.
var (
	errNoCredentials = errors.New("auth: credentials required: send Authorization: Bearer TOKEN")
	errBadToken      = errors.New("auth: unknown token")
	errForbidden     = errors.New("auth: role too low")
)

// tokenEntry keeps a token's digest, so comparing takes the same time
// whatever the token's length and wherever it first differs.
type tokenEntry struct {
	sum  [sha256.Size]byte
	role role
}

// authz checks credentials. A nil *authz lets everything through.
type authz struct {
	// tokens is replaced whole by a reload (SIGHUP, reload.go), while
	// requests read it.
	tokens     atomic.Pointer[[]tokenEntry]
	tokensPath string // --auth-tokens, "" if none
	// gen counts the loads of tokens and certificate roles: a RESP
	// connection checks its credentials again when it changed.
	gen atomic.Uint64
	// certRoles maps verified client certificates' common names to
	// roles: --auth-cert-roles (fixed) and --auth-cert-roles-file (read
	// again by a reload), replaced whole.
	certRoles atomic.Pointer[map[string]role]
	security  daemon.Security // for reading the roles file again
	// metricsOpen: GET /metrics on the main port needs no credentials
	// (no --metrics-auth).
	metricsOpen bool
}

// newAuthz builds the checker from the settings, or nil when the HTTP
// port checks no credentials.
func newAuthz(s daemon.Security) (*authz, error) {
	if !s.AuthOn() {
		return nil, nil
	}
	a := &authz{metricsOpen: !s.MetricsAuth, tokensPath: s.AuthTokens, security: s}
	if _, err := a.loadTokens(); err != nil {
		return nil, err
	}
	if _, err := a.loadCertRoles(); err != nil {
		return nil, err
	}
	return a, nil
}

// loadCertRoles reads --auth-cert-roles and --auth-cert-roles-file (at
// start, and again on a reload) and returns how many common names have a
// role. On an error the roles in use stay.
func (a *authz) loadCertRoles() (int, error) {
	inline, err := a.security.CertRoles()
	if err != nil {
		return 0, fmt.Errorf("--auth-cert-roles: %w", err)
	}
	file, err := a.security.CertRolesFile()
	if err != nil {
		return 0, err
	}
	roles := map[string]role{}
	for _, m := range []map[string]string{inline, file} {
		for cn, name := range m {
			roles[cn], _ = parseRole(name)
		}
	}
	a.certRoles.Store(&roles)
	a.gen.Add(1)
	return len(roles), nil
}

// roleOfCN is the role a verified client certificate's common name
// stands for.
func (a *authz) roleOfCN(cn string) (role, bool) {
	r, ok := (*a.certRoles.Load())[cn]
	return r, ok
}

// loadTokens reads --auth-tokens (at start, and again on a reload) and
// returns how many tokens it holds. On an error the tokens in use stay.
func (a *authz) loadTokens() (int, error) {
	if a == nil || a.tokensPath == "" {
		return 0, nil
	}
	if err := daemon.CheckSecretFile("auth-tokens", a.tokensPath); err != nil {
		return 0, err
	}
	f, err := os.Open(a.tokensPath)
	if err != nil {
		return 0, fmt.Errorf("--auth-tokens: %w", err)
	}
	defer f.Close()
	ts, err := parseTokens(f, a.tokensPath)
	if err != nil {
		return 0, err
	}
	a.tokens.Store(&ts)
	a.gen.Add(1)
	return len(ts), nil
}

// parseTokens reads "ROLE TOKEN" (or "TOKEN ROLE") lines; blank lines and
// lines starting with # are skipped. Errors name the file and line but
// never echo a token.
func parseTokens(f *os.File, name string) ([]tokenEntry, error) {
	var out []tokenEntry
	seen := map[[sha256.Size]byte]bool{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 2 {
			return nil, fmt.Errorf("--auth-tokens %s:%d: want ROLE TOKEN (two fields), got %d fields", name, line, len(fields))
		}
		r0, ok0 := parseRole(fields[0])
		r1, ok1 := parseRole(fields[1])
		var r role
		var tok string
		switch {
		case ok0 && ok1:
			return nil, fmt.Errorf("--auth-tokens %s:%d: both fields are role names; a token must not be one", name, line)
		case ok0:
			r, tok = r0, fields[1]
		case ok1:
			r, tok = r1, fields[0]
		default:
			return nil, fmt.Errorf("--auth-tokens %s:%d: no role (read, write or admin) on the line", name, line)
		}
		if len(tok) < minTokenLen {
			return nil, fmt.Errorf("--auth-tokens %s:%d: the token is %d characters, need at least %d", name, line, len(tok), minTokenLen)
		}
		sum := sha256.Sum256([]byte(tok))
		if seen[sum] {
			return nil, fmt.Errorf("--auth-tokens %s:%d: the same token is listed twice", name, line)
		}
		seen[sum] = true
		out = append(out, tokenEntry{sum: sum, role: r})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--auth-tokens %s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--auth-tokens %s: no tokens in the file", name)
	}
	return out, nil
}

// roleOf returns the role of token, and false for an unknown one. It
// knows nothing of HTTP, so other listeners (the RESP port's AUTH) can
// check tokens with it: node.auth is nil when no credentials are
// configured (then every client may do everything), and roleOf on nil
// knows no token. Every entry is compared, in constant time, so the time
// taken says nothing about which entry matched or how close a guess came.
func (a *authz) roleOf(token string) (role, bool) {
	if a == nil {
		return roleNone, false
	}
	sum := sha256.Sum256([]byte(token))
	found := roleNone
	var ts []tokenEntry
	if p := a.tokens.Load(); p != nil {
		ts = *p
	}
	for _, e := range ts {
		if subtle.ConstantTimeCompare(sum[:], e.sum[:]) == 1 {
			found = e.role
		}
	}
	return found, found != roleNone
}

// check decides whether r may do what needs role need: nil, or an error
// wrapping errNoCredentials or errBadToken (answer 401) or errForbidden
// (403). A token, when sent, decides; else a verified client
// certificate's common name.
func (a *authz) check(r *http.Request, need role) error {
	if a == nil || need == roleNone {
		return nil
	}
	have, how := roleNone, ""
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return fmt.Errorf("%w: the Authorization header is not 'Bearer TOKEN'", errBadToken)
		}
		var ok bool
		if have, ok = a.roleOf(strings.TrimSpace(tok)); !ok {
			return errBadToken
		}
		how = "token"
	} else if cn, ok := verifiedCN(r.TLS); ok {
		if have, ok = a.roleOfCN(cn); !ok {
			return fmt.Errorf("%w: client certificate %q has no role (--auth-cert-roles, --auth-cert-roles-file)", errNoCredentials, cn)
		}
		how = fmt.Sprintf("client certificate %q", cn)
	} else {
		return errNoCredentials
	}
	if have < need {
		return fmt.Errorf("%w: %s %s %s has role %s, this needs %s", errForbidden, r.Method, r.URL.Path, how, have, need)
	}
	return nil
}

// verifiedCN is the common name of a connection's verified client
// certificate, which --auth-cert-roles maps to a role.
func verifiedCN(cs *tls.ConnectionState) (string, bool) {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", false
	}
	return cs.VerifiedChains[0][0].Subject.CommonName, true
}

// certRole is the role --auth-cert-roles gives a connection's verified
// client certificate, roleNone if none.
func (a *authz) certRole(cs *tls.ConnectionState) role {
	if a == nil {
		return roleNone
	}
	if cn, ok := verifiedCN(cs); ok {
		r, _ := a.roleOfCN(cn)
		return r
	}
	return roleNone
}

// need is the role a request needs: reading needs read, changing data
// write, everything else (admin, profiles, any method or path not known
// here) admin, so a route added later is closed until someone opens it.
func (a *authz) need(r *http.Request) role {
	p := r.URL.Path
	switch {
	case p == "/metrics" && a.metricsOpen, p == "/healthz":
		return roleNone
	case strings.HasPrefix(p, "/v1/admin/"), strings.HasPrefix(p, "/debug/"):
		return roleAdmin
	case strings.HasPrefix(p, "/v1/kv/") && (r.Method == http.MethodPut || r.Method == http.MethodDelete):
		return roleWrite
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		return roleRead
	}
	return roleAdmin
}

// wrap puts the check in front of next: 401 with WWW-Authenticate when
// credentials are missing or unknown, 403 when the role is too low, with
// the JSON error body of every other refusal.
func (a *authz) wrap(next http.Handler) http.Handler {
	if a == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := a.check(r, a.need(r))
		switch {
		case err == nil:
			next.ServeHTTP(w, r)
		case errors.Is(err, errForbidden):
			writeJSON(w, http.StatusForbidden, api.ErrorBody{Error: err.Error()})
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="logship"`)
			writeJSON(w, http.StatusUnauthorized, api.ErrorBody{Error: err.Error()})
		}
	})
}
