package daemon

// Security settings: TLS and tokens on the HTTP port, the metrics
// listener, the HTTP server's limits, how a replication certificate names
// its site, and the group secret. All are off by default, so the paths of
// the external interface work without credentials; docs/security.md says
// what each one protects.

import (
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"
)

// Security is the part of Config about credentials and limits. It is
// embedded in Config, so its TOML keys sit at the top level like every
// other setting.
type Security struct {
	// HTTPTLSCert and HTTPTLSKey turn on TLS on --http (not on
	// --metrics-listen); HTTPClientCA makes the HTTP port require client
	// certificates signed by that CA.
	HTTPTLSCert  string `toml:"http-tls-cert"`
	HTTPTLSKey   string `toml:"http-tls-key"`
	HTTPClientCA string `toml:"http-client-ca"`

	// AuthTokens is a file of bearer tokens, one "ROLE TOKEN" a line;
	// AuthCertRoles maps client certificate common names to roles
	// ("CN=role,..."). Either turns on authorization on --http.
	AuthTokens    string `toml:"auth-tokens"`
	AuthCertRoles string `toml:"auth-cert-roles"`
	// AuthCertRolesFile is a file of "CN=role" lines, beside
	// AuthCertRoles, read again on SIGHUP.
	AuthCertRolesFile string `toml:"auth-cert-roles-file"`

	// MetricsListen serves /metrics and /healthz alone on another
	// address; MetricsAuth requires the read role for /metrics on --http.
	MetricsListen string `toml:"metrics-listen"`
	MetricsAuth   bool   `toml:"metrics-auth"`

	HTTPReadTimeout  time.Duration `toml:"http-read-timeout"`
	HTTPWriteTimeout time.Duration `toml:"http-write-timeout"`
	HTTPIdleTimeout  time.Duration `toml:"http-idle-timeout"`
	HTTPMaxConns     int           `toml:"http-max-conns"`

	// TLSIDFrom binds a replication certificate to the site id it claims:
	// "cn" (CommonName site-N) or "san" (a DNS name site-N or a URI
	// logship://site/N); empty trusts any certificate of the group's CA.
	TLSIDFrom string `toml:"tls-id-from"`

	// GroupSecretFile holds the secret every site of the group proves it
	// knows in the transport handshake, one a line: the first is proved,
	// every one accepted (a rotation by reloads).
	GroupSecretFile string `toml:"group-secret-file"`
}

// Roles a token or a client certificate may carry, weakest first; each
// implies the ones before it.
var Roles = []string{"read", "write", "admin"}

// defaultSecurity: everything off, and HTTP limits that a slow client
// cannot hold a connection past, but that the long requests still fit:
// a GET that waits (--read-timeout, 30 s), a transfer (repadmin waits 60 s).
func defaultSecurity() Security {
	return Security{
		HTTPReadTimeout:  time.Minute,
		HTTPWriteTimeout: 2 * time.Minute,
		HTTPIdleTimeout:  2 * time.Minute,
		HTTPMaxConns:     1024,
	}
}

// AuthOn reports whether the HTTP port checks credentials.
func (s Security) AuthOn() bool {
	return s.AuthTokens != "" || s.AuthCertRoles != "" || s.AuthCertRolesFile != ""
}

// CertRoles parses --auth-cert-roles: "CN=role,CN=role".
func (s Security) CertRoles() (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(s.AuthCertRoles, ",") {
		if err := addCertRole(out, part); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CertRolesFile reads --auth-cert-roles-file: one "CN=role" a line,
// blank lines and lines starting with # skipped, no common name also in
// --auth-cert-roles (which of the two would stand?). An empty map
// without the flag.
func (s Security) CertRolesFile() (map[string]string, error) {
	out := map[string]string{}
	if s.AuthCertRolesFile == "" {
		return out, nil
	}
	if err := checkOthersCannotWrite(s.AuthCertRolesFile); err != nil {
		return nil, fmt.Errorf("--auth-cert-roles-file: %w", err)
	}
	b, err := os.ReadFile(s.AuthCertRolesFile)
	if err != nil {
		return nil, fmt.Errorf("--auth-cert-roles-file: %w", err)
	}
	inline, err := s.CertRoles()
	if err != nil {
		return nil, fmt.Errorf("--auth-cert-roles: %w", err)
	}
	for i, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if err := addCertRole(out, line); err != nil {
			return nil, fmt.Errorf("--auth-cert-roles-file %s:%d: %w", s.AuthCertRolesFile, i+1, err)
		}
	}
	for cn := range out {
		if _, dup := inline[cn]; dup {
			return nil, fmt.Errorf("--auth-cert-roles-file %s: common name %q is also in --auth-cert-roles", s.AuthCertRolesFile, cn)
		}
	}
	return out, nil
}

// addCertRole adds one "CN=role" to roles (nothing for a blank part).
func addCertRole(roles map[string]string, part string) error {
	part = strings.TrimSpace(part)
	if part == "" {
		return nil
	}
	cn, role, ok := strings.Cut(part, "=")
	cn, role = strings.TrimSpace(cn), strings.TrimSpace(role)
	if !ok || cn == "" {
		return fmt.Errorf("%q is not CN=role", part)
	}
	if !slices.Contains(Roles, role) {
		return fmt.Errorf("%q: role %q: want read, write or admin", part, role)
	}
	if _, dup := roles[cn]; dup {
		return fmt.Errorf("common name %q listed twice", cn)
	}
	roles[cn] = role
	return nil
}

// CheckSecretFile refuses a credential file that others may read or
// write: a token or secret there is no secret. name is its flag.
func CheckSecretFile(name, path string) error {
	if err := checkSecretFile(path); err != nil {
		return fmt.Errorf("--%s: %w", name, err)
	}
	return nil
}

// checkOthersCannotWrite refuses a file that grants rights (roles) and
// that other users may change: they could grant themselves admin.
func checkOthersCannotWrite(path string) error {
	return checkFileMode(path, 0o002, "lets every user of the machine change it; chmod o-w it")
}

func checkSecretFile(path string) error {
	return checkFileMode(path, 0o007, "lets every user of the machine read or change it; chmod 600 (or 640) it")
}

// checkFileMode refuses a path that is not a regular file, or whose mode
// has a bit of forbid, saying why.
func checkFileMode(path string, forbid os.FileMode, why string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&forbid != 0 {
		return fmt.Errorf("%s: mode %04o %s", path, perm, why)
	}
	return nil
}

// validate reports bad security settings through bad. Files are checked
// for existence and mode here, so a bad path stops the start with the
// flag's name; their contents are parsed where they are used.
func (s Security) validate(c Config, bad func(name, format string, args ...any)) {
	if (s.HTTPTLSCert == "") != (s.HTTPTLSKey == "") {
		bad("http-tls-cert", "--http-tls-cert and --http-tls-key go together")
	}
	if s.HTTPClientCA != "" && s.HTTPTLSCert == "" {
		bad("http-client-ca", "client certificates need TLS on the HTTP port: set --http-tls-cert and --http-tls-key")
	}
	if s.AuthCertRoles != "" {
		if s.HTTPClientCA == "" {
			bad("auth-cert-roles", "needs --http-client-ca: only a verified client certificate may stand for a role")
		}
		if _, err := s.CertRoles(); err != nil {
			bad("auth-cert-roles", "%v", err)
		}
	}
	if s.AuthCertRolesFile != "" {
		if s.HTTPClientCA == "" {
			bad("auth-cert-roles-file", "needs --http-client-ca: only a verified client certificate may stand for a role")
		}
		if _, err := s.CertRolesFile(); err != nil {
			bad("auth-cert-roles-file", "%v", err)
		}
	}
	if s.AuthTokens != "" {
		if err := checkSecretFile(s.AuthTokens); err != nil {
			bad("auth-tokens", "%v", err)
		}
	}
	if s.MetricsAuth && !s.AuthOn() {
		bad("metrics-auth", "needs --auth-tokens or --auth-cert-roles: there is no role to require")
	}
	if s.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(s.MetricsListen); err != nil {
			bad("metrics-listen", "%q: %v", s.MetricsListen, err)
		} else if s.MetricsListen == c.HTTP {
			bad("metrics-listen", "%s is also --http", s.MetricsListen)
		}
	}
	if s.HTTPReadTimeout < 0 {
		bad("http-read-timeout", "%v: must be >= 0 (0 = none)", s.HTTPReadTimeout)
	}
	if s.HTTPIdleTimeout < 0 {
		bad("http-idle-timeout", "%v: must be >= 0 (0 = none)", s.HTTPIdleTimeout)
	}
	if s.HTTPWriteTimeout < 0 {
		bad("http-write-timeout", "%v: must be >= 0 (0 = none)", s.HTTPWriteTimeout)
	} else if s.HTTPWriteTimeout > 0 && s.HTTPWriteTimeout <= c.ReadTimeout {
		// A GET with min_lsn or a token waits up to --read-timeout before
		// it answers; the answer must still get out.
		bad("http-write-timeout", "%v must exceed --read-timeout %v, which a waiting GET may use up before it answers", s.HTTPWriteTimeout, c.ReadTimeout)
	}
	if s.HTTPMaxConns < 0 {
		bad("http-max-conns", "%d: must be >= 0 (0 = no limit)", s.HTTPMaxConns)
	}
	switch s.TLSIDFrom {
	case "":
	case "cn", "san":
		if c.TLSCert == "" {
			bad("tls-id-from", "needs TLS on the replication port (--tls-cert, --tls-key, --tls-ca)")
		}
	default:
		bad("tls-id-from", "%q: want cn or san", s.TLSIDFrom)
	}
	if s.GroupSecretFile != "" {
		if err := checkSecretFile(s.GroupSecretFile); err != nil {
			bad("group-secret-file", "%v", err)
		}
	}
}

// bindSecurityFlags registers the security settings on fs.
func bindSecurityFlags(fs *flag.FlagSet, s *Security) {
	fs.StringVar(&s.HTTPTLSCert, "http-tls-cert", s.HTTPTLSCert, "HTTPS on --http: certificate (PEM); with --http-tls-key (--metrics-listen stays plain HTTP); re-read on SIGHUP")
	fs.StringVar(&s.HTTPTLSKey, "http-tls-key", s.HTTPTLSKey, "HTTPS private key (PEM)")
	fs.StringVar(&s.HTTPClientCA, "http-client-ca", s.HTTPClientCA, "require HTTPS clients to present a certificate signed by this CA (PEM)")
	fs.StringVar(&s.AuthTokens, "auth-tokens", s.AuthTokens, "bearer tokens for --http: a file of 'ROLE TOKEN' lines, role read|write|admin, '#' comments; not readable by others (mode 600); re-read on SIGHUP")
	fs.StringVar(&s.AuthCertRoles, "auth-cert-roles", s.AuthCertRoles, "with --http-client-ca: client certificate common names standing for roles, CN=role,...")
	fs.StringVar(&s.AuthCertRolesFile, "auth-cert-roles-file", s.AuthCertRolesFile, "with --http-client-ca: a file of CN=role lines, '#' comments, beside --auth-cert-roles; not writable by others; re-read on SIGHUP")
	fs.StringVar(&s.MetricsListen, "metrics-listen", s.MetricsListen, "also serve /metrics and /healthz, and nothing else, on this host:port (no credentials asked)")
	fs.BoolVar(&s.MetricsAuth, "metrics-auth", s.MetricsAuth, "with --auth-tokens: /metrics on --http needs the read role (default: open)")
	fs.DurationVar(&s.HTTPReadTimeout, "http-read-timeout", s.HTTPReadTimeout, "longest an HTTP client may take to send a request, headers and body (0 = none)")
	fs.DurationVar(&s.HTTPWriteTimeout, "http-write-timeout", s.HTTPWriteTimeout, "longest from a request read to its answer written; must exceed --read-timeout (POST /v1/admin/verify is exempt) (0 = none)")
	fs.DurationVar(&s.HTTPIdleTimeout, "http-idle-timeout", s.HTTPIdleTimeout, "close a keep-alive HTTP connection idle this long (0 = none)")
	fs.IntVar(&s.HTTPMaxConns, "http-max-conns", s.HTTPMaxConns, "most HTTP connections open at once; more wait to be accepted (0 = no limit)")
	fs.StringVar(&s.TLSIDFrom, "tls-id-from", s.TLSIDFrom, "with --tls-*: a peer's certificate must name the site id it claims: cn (CommonName site-N) or san (DNS name site-N or URI logship://site/N)")
	fs.StringVar(&s.GroupSecretFile, "group-secret-file", s.GroupSecretFile, "file holding the group's shared secret: peers prove they know it in the replication handshake (every site must have it; mode 600). Further lines are secrets also accepted, for a rotation by SIGHUP")
}
