package transport

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// pipeNet is an in-memory network of net.Pipe connections, so that the TCP
// transport's goroutines and timers can run in a synctest bubble on a fake
// clock. It can turn into a black hole (writes vanish, dials fail), the
// way a dead host or a pulled cable looks to TCP.
type pipeNet struct {
	mu    sync.Mutex
	dead  bool
	slow  bool        // reads return at most 64 KiB, each after 100ms
	dials []time.Time // when each dial was attempted
	lns   map[string]*pipeListener
}

func (n *pipeNet) isDead() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dead
}

func (n *pipeNet) setDead(d bool) {
	n.mu.Lock()
	n.dead = d
	n.mu.Unlock()
}

func (n *pipeNet) listen(addr string) *pipeListener {
	l := &pipeListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
	n.mu.Lock()
	n.lns[addr] = l
	n.mu.Unlock()
	return l
}

func (n *pipeNet) dial(ctx context.Context, addr string) (net.Conn, error) {
	n.mu.Lock()
	n.dials = append(n.dials, time.Now())
	l, dead := n.lns[addr], n.dead
	n.mu.Unlock()
	if dead || l == nil {
		return nil, errors.New("pipenet: host unreachable")
	}
	a, b := net.Pipe()
	select {
	case l.conns <- holeConn{b, n}:
		return holeConn{a, n}, nil
	case <-l.done:
		return nil, errors.New("pipenet: connection refused")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// holeConn swallows writes while its network is dead.
type holeConn struct {
	net.Conn
	n *pipeNet
}

func (c holeConn) Read(b []byte) (int, error) {
	c.n.mu.Lock()
	slow := c.n.slow
	c.n.mu.Unlock()
	if slow {
		time.Sleep(100 * time.Millisecond) // fake clock: a slow link
		b = b[:min(len(b), 64<<10)]
	}
	return c.Conn.Read(b)
}

func (c holeConn) Write(b []byte) (int, error) {
	if c.n.isDead() {
		return len(b), nil
	}
	return c.Conn.Write(b)
}

type pipeListener struct {
	addr  string
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}
func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return pipeAddr(l.addr) }

type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }

// site starts a transport on pn with a 100ms heartbeat, a 1s timeout and
// a 100ms..1s back-off.
func (pn *pipeNet) site(t *testing.T, self, other ID) *TCP {
	cfg := DefaultConfig()
	cfg.GroupName, cfg.SelfID = "test", self
	cfg.Listener = pn.listen(string(rune('0' + self)))
	cfg.Peers = map[ID]string{other: string(rune('0' + other))}
	cfg.Dial = pn.dial
	cfg.ReconnectMin, cfg.ReconnectMax = 100*time.Millisecond, time.Second
	cfg.HeartbeatInterval, cfg.HeartbeatTimeout = 100*time.Millisecond, time.Second
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestSlowLinkLargeFrame sends a 4 MiB message over a link that moves
// 640 KiB/s: it takes ~6.4s, far beyond the 1s heartbeat timeout, but bytes
// keep arriving, so the connection must survive and deliver it.
func TestSlowLinkLargeFrame(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := &pipeNet{lns: map[string]*pipeListener{}}
		a, b := pn.site(t, 1, 2), pn.site(t, 2, 1)
		defer b.Close()
		defer a.Close()
		for _, tr := range []*TCP{a, b} {
			if m := <-tr.Recv(); m.Kind != KindConnUp {
				t.Fatalf("got %v", m.Kind)
			}
		}
		pn.mu.Lock()
		pn.slow = true
		pn.mu.Unlock()
		start := time.Now()
		if err := a.Send(2, make([]byte, 4<<20)); err != nil {
			t.Fatal(err)
		}
		m := <-b.Recv()
		if m.Kind != KindMessage || len(m.Body) != 4<<20 {
			t.Fatalf("got %v with %d bytes", m.Kind, len(m.Body))
		}
		if d := time.Since(start); d < 5*time.Second {
			t.Fatalf("took %v: the link was not slow", d)
		}
		if !a.Connected(2) || a.Stats().Peers[2].Connects != 1 {
			t.Fatalf("connection did not survive: %+v", a.Stats().Peers[2])
		}
	})
}

// TestHeartbeatTimeoutAndBackoff runs two sites on a fake clock: when the
// network goes dead, both notice within HeartbeatTimeout; the dialer then
// retries with doubling back-off capped at ReconnectMax; when the network
// returns, they reconnect.
func TestHeartbeatTimeoutAndBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := &pipeNet{lns: map[string]*pipeListener{}}
		a, b := pn.site(t, 1, 2), pn.site(t, 2, 1)
		// Deferred so that a failed check still stops every goroutine in
		// the bubble.
		defer b.Close()
		defer a.Close()
		event := func(tr *TCP) Message {
			m := <-tr.Recv()
			return m
		}
		if m := event(a); m.Kind != KindConnUp {
			t.Fatalf("site 1: %v", m.Kind)
		}
		if m := event(b); m.Kind != KindConnUp {
			t.Fatalf("site 2: %v", m.Kind)
		}
		// Idle for a while: heartbeats keep the connection alive.
		time.Sleep(10 * time.Second)
		if !a.Connected(2) || !b.Connected(1) {
			t.Fatal("idle connection dropped despite heartbeats")
		}

		pn.setDead(true)
		died := time.Now()
		for _, tr := range []*TCP{a, b} {
			if m := event(tr); m.Kind != KindConnDown {
				t.Fatalf("site %d: %v", tr.cfg.SelfID, m.Kind)
			}
			// The read deadline is re-armed at most every quarter timeout
			// and the last heartbeat may predate the death by one interval.
			if d := time.Since(died); d > time.Second+100*time.Millisecond {
				t.Fatalf("site %d noticed after %v, timeout is 1s", tr.cfg.SelfID, d)
			}
		}
		pn.mu.Lock()
		pn.dials = nil
		pn.mu.Unlock()
		time.Sleep(10 * time.Second)
		pn.mu.Lock()
		dials := pn.dials
		pn.mu.Unlock()
		// Gaps double from 100ms, capped at 1s, each with up to +25% jitter.
		want := []time.Duration{100, 200, 400, 800, 1000, 1000}
		if len(dials) < len(want)+1 {
			t.Fatalf("%d dials in 10s", len(dials))
		}
		for i, w := range want {
			gap, lo := dials[i+1].Sub(dials[i]), w*time.Millisecond
			if gap < lo || gap > lo+lo/4 {
				t.Errorf("gap %d = %v, want %v..%v", i, gap, lo, lo+lo/4)
			}
		}

		pn.setDead(false)
		if m := event(a); m.Kind != KindConnUp {
			t.Fatalf("site 1 after recovery: %v", m.Kind)
		}
		if m := event(b); m.Kind != KindConnUp {
			t.Fatalf("site 2 after recovery: %v", m.Kind)
		}
		// Detection (<= 1.1s), the 10s sleep, and at most one capped
		// back-off with jitter (1.25s).
		if d := time.Since(died); d > 12350*time.Millisecond {
			t.Fatalf("reconnected %v after the failure", d)
		}
		a.Send(2, []byte("back"))
		if m := event(b); string(m.Body) != "back" {
			t.Fatalf("got %+v", m)
		}
	})
}

// TestKnockWakesDialer: the site with the lower ID dials; when the other
// restarts after a long absence, the dialer is deep in its back-off, and
// without a knock the restarted site would wait for it. The restarted
// site knocks, and the dialer connects at once.
func TestKnockWakesDialer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := &pipeNet{lns: map[string]*pipeListener{}}
		a := pn.site(t, 1, 2)
		defer a.Close()
		// Site 2 is away long enough for site 1's back-off to reach its
		// 1s cap.
		time.Sleep(5 * time.Second)
		b := pn.site(t, 2, 1)
		defer b.Close()
		began := time.Now()
		if m := <-b.Recv(); m.Kind != KindConnUp {
			t.Fatalf("site 2: %v", m.Kind)
		}
		// A knock, a dial, two handshakes: no back-off in between.
		if d := time.Since(began); d > 50*time.Millisecond {
			t.Fatalf("site 1 connected %v after site 2 started; its back-off was 1s", d)
		}
		if m := <-a.Recv(); m.Kind != KindConnUp {
			t.Fatalf("site 1: %v", m.Kind)
		}
	})
}
