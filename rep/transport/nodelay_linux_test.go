//go:build linux

package transport

import (
	"net"
	"syscall"
	"testing"
)

// noDelay reads TCP_NODELAY from the socket itself, not from Go's view of
// it.
func noDelay(t *testing.T, c net.Conn) bool {
	t.Helper()
	sc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := sc.Control(func(fd uintptr) {
		v, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
	}); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v != 0
}

func TestNoDelayOnEveryConnection(t *testing.T) {
	checkNoLeak(t)
	for _, tlsOn := range []bool{false, true} {
		var mod func(*Config)
		if tlsOn {
			ca := newCA(t, "ca")
			mod = func(c *Config) { c.TLS = ca.site(t, "site", ca.Pool) }
		}
		sites := group(t, 2, mod)
		waitConnected(t, sites...)
		for _, s := range sites {
			p := s.peers[3-s.cfg.SelfID]
			p.mu.Lock()
			raw := p.cur.raw
			p.mu.Unlock()
			side := "accepted"
			if p.dials {
				side = "dialled"
			}
			if !noDelay(t, raw) {
				t.Errorf("tls=%v: site %d: TCP_NODELAY off on the %s connection", tlsOn, s.cfg.SelfID, side)
			}
		}
		for _, s := range sites {
			s.Close()
		}
	}
}
