package daemon

// Settings of a site joining a running group (--join): instead of
// --peers, the HTTP address of a member, which repnode asks (following
// it to the master) to add this site; then the site takes the
// membership from the master (cmd/repnode/join.go; docs/operations.md,
// "Changing the group").

import (
	"flag"
	"net"
	"strings"
)

func bindJoinFlags(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.Join, "join", c.Join, "join a running group: the HTTP address HOST:PORT of one of its members (or a comma list, tried in turn); at first start, with an empty --dir, repnode asks it (following to the master) to add this site, instead of --peers. A restart uses the membership the site stored")
	fs.StringVar(&c.JoinTokenFile, "join-token-file", c.JoinTokenFile, "with --join: a file holding the admin token of the group's --auth-tokens, sent to add this site")
	fs.StringVar(&c.JoinCA, "join-ca", c.JoinCA, "with --join: the members' HTTP port is HTTPS; trust this CA certificate (PEM) for it")
	fs.BoolVar(&c.JoinNonVoting, "join-non-voting", c.JoinNonVoting, "with --join: join as a non-voting read replica, which the master does not promote (repadmin site promote does)")
}

// JoinAddrs are the --join addresses, in order.
func (c Config) JoinAddrs() []string {
	var out []string
	for _, a := range strings.Split(c.Join, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

func (c Config) validateJoin(bad func(name, format string, args ...any)) {
	if c.Join == "" {
		for name, set := range map[string]bool{"join-token-file": c.JoinTokenFile != "", "join-ca": c.JoinCA != "", "join-non-voting": c.JoinNonVoting} {
			if set {
				bad(name, "only meaningful with --join")
			}
		}
		return
	}
	addrs := c.JoinAddrs()
	if len(addrs) == 0 {
		bad("join", "want a member's HTTP address HOST:PORT")
	}
	for _, a := range addrs {
		if host, port, err := net.SplitHostPort(a); err != nil || port == "" || port == "0" || unspecified(host) {
			bad("join", "%q: want a member's HTTP address HOST:PORT", a)
		}
	}
	switch {
	case len(c.Peers) > 0:
		bad("join", "a joining site learns the members from the master: drop --peers (it names the founding sites only)")
	case c.Master:
		bad("join", "a joining site starts as a non-voting client: drop --master")
	case c.Witness:
		bad("join", "a witness cannot join a running group yet: add it to every site's --peers and --witness-peers")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err == nil && unspecified(hostOf(c.Listen)) {
		bad("listen", "%q: with --join the others dial this address, so it must name this host, not every interface", c.Listen)
	}
	if c.JoinTokenFile != "" {
		if err := checkSecretFile(c.JoinTokenFile); err != nil {
			bad("join-token-file", "%v", err)
		}
	}
}

func hostOf(addr string) string {
	h, _, _ := net.SplitHostPort(addr)
	return h
}
