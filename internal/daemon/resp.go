package daemon

import (
	"flag"
	"net"

	"logship/env"
)

// bindRESPFlags registers the RESP listener's settings.
func bindRESPFlags(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.RESP, "resp", c.RESP, "RESP (Redis protocol) client address host:port (off when empty); no auth or TLS yet: bind it to loopback or a private network only")
	fs.Var(&c.RESPPeers, "resp-peers", "the other sites' RESP addresses: id=host:port,... (named in -READONLY answers and ROLE/INFO on a client)")
	fs.StringVar(&c.RESPBucket, "resp-bucket", c.RESPBucket, "bucket holding every RESP key (SET k v is PUT /v1/kv/BUCKET/k)")
	fs.IntVar(&c.RESPMaxConns, "resp-max-conns", c.RESPMaxConns, "most RESP connections open at once; more are answered an error and closed")
	fs.DurationVar(&c.RESPIdleTimeout, "resp-idle-timeout", c.RESPIdleTimeout, "close a RESP connection that sends nothing for this long (0 = never)")
}

// validateRESP checks the RESP listener's settings.
func (c Config) validateRESP(bad func(name, format string, args ...any)) {
	if c.RESP != "" {
		if _, _, err := net.SplitHostPort(c.RESP); err != nil {
			bad("resp", "%q: %v", c.RESP, err)
		}
		if c.Witness {
			bad("resp", "a witness holds no data: drop --resp")
		}
	}
	for _, id := range c.RESPPeers.IDs() {
		if id == c.ID {
			bad("resp-peers", "lists this site's own id %d; list only the other sites (this site's is --resp)", id)
		} else if _, ok := c.Peers[id]; !ok {
			bad("resp-peers", "site %d is not in --peers (%s)", id, c.Peers.String())
		}
	}
	switch {
	case c.RESPBucket == "":
		bad("resp-bucket", "must not be empty")
	case len(c.RESPBucket) > env.MaxKeySize:
		bad("resp-bucket", "%d bytes: at most %d", len(c.RESPBucket), env.MaxKeySize)
	}
	if c.RESPMaxConns < 1 {
		bad("resp-max-conns", "%d: must be >= 1", c.RESPMaxConns)
	}
	if c.RESPIdleTimeout < 0 {
		bad("resp-idle-timeout", "%v: must be >= 0 (0 = never)", c.RESPIdleTimeout)
	}
}
