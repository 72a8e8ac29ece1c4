package transport

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"logship/internal/testwait"
)

func TestThreeSitesAllDirections(t *testing.T) {
	checkNoLeak(t)
	sites := group(t, 3, nil)
	waitConnected(t, sites...)
	const rounds = 50
	for r := range rounds {
		for _, a := range sites {
			for _, b := range sites {
				if a != b {
					body := fmt.Appendf(nil, "%d->%d #%d", a.cfg.SelfID, b.cfg.SelfID, r)
					if err := a.Send(b.cfg.SelfID, body); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	for _, b := range sites {
		// Per sender, messages arrive in the order they were sent.
		seq := map[ID]int{}
		for range 2 * rounds {
			m := next(t, b)
			want := fmt.Sprintf("%d->%d #%d", m.From, b.cfg.SelfID, seq[m.From])
			if string(m.Body) != want {
				t.Fatalf("site %d got %q, want %q", b.cfg.SelfID, m.Body, want)
			}
			seq[m.From]++
		}
	}
	for _, a := range sites {
		// The writer counts after its write returns, which may be after
		// the peer has read the frames.
		testwait.For(t, 10*time.Second, "send counters", func() bool {
			for _, ps := range a.Stats().Peers {
				if ps.FramesSent != rounds {
					return false
				}
			}
			return true
		})
		for id, ps := range a.Stats().Peers {
			if ps.FramesRecv != rounds || !ps.Connected || ps.Drops != 0 || ps.Connects != 1 {
				t.Errorf("site %d peer %d stats: %+v", a.cfg.SelfID, id, ps)
			}
		}
	}
	if n := sites[0].Broadcast([]byte("all")); n != 2 {
		t.Fatalf("broadcast reached %d peers, want 2", n)
	}
	for _, b := range sites[1:] {
		if m := next(t, b); string(m.Body) != "all" || m.From != 1 {
			t.Fatalf("broadcast: got %+v", m)
		}
	}
}

func TestEventsOrderAndClose(t *testing.T) {
	checkNoLeak(t)
	sites := group(t, 2, nil)
	waitConnected(t, sites...)
	if m := <-sites[1].Recv(); m.Kind != KindConnUp || m.From != 1 {
		t.Fatalf("first event %+v, want conn-up from 1", m)
	}
	sites[0].Send(2, []byte("last words"))
	if m := next(t, sites[1]); string(m.Body) != "last words" {
		t.Fatalf("got %q", m.Body)
	}
	sites[0].Close()
	if m := <-sites[1].Recv(); m.Kind != KindConnDown || m.From != 1 {
		t.Fatalf("after close: %+v, want conn-down from 1", m)
	}
	// The closed site's channel is closed and sending fails.
	for range sites[0].Recv() {
	}
	if err := sites[0].Send(2, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
	if err := sites[0].Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

func TestSendErrors(t *testing.T) {
	checkNoLeak(t)
	sites := group(t, 2, func(c *Config) { c.MaxFrameSize = 1024 })
	if err := sites[0].Send(7, nil); !errors.Is(err, ErrUnknownSite) {
		t.Errorf("unknown peer: %v", err)
	}
	waitConnected(t, sites...)
	if err := sites[0].Send(2, make([]byte, 1025)); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("oversized: %v", err)
	}
	sites[1].Close()
	testwait.For(t, 10*time.Second, "disconnect", func() bool { return !sites[0].Connected(2) })
	if err := sites[0].Send(2, nil); !errors.Is(err, ErrNotConnected) {
		t.Errorf("disconnected: %v", err)
	}
	if d := sites[0].Stats().Peers[2].Drops; d != 2 {
		t.Errorf("drops = %d, want 2", d)
	}
}

// TestRestartReconnects kills each site in turn and restarts it on the same
// address: the survivor reconnects (or is reconnected to) and messages
// flow again in both directions.
func TestRestartReconnects(t *testing.T) {
	checkNoLeak(t)
	for _, victim := range []int{0, 1} { // the dialer (ID 1), then the acceptor (ID 2)
		t.Run(fmt.Sprintf("restart site %d", victim+1), func(t *testing.T) {
			sites := group(t, 2, nil)
			waitConnected(t, sites...)
			old := sites[victim]
			addr := old.Addr().String()
			old.Close()
			survivor := sites[1-victim]
			testwait.For(t, 10*time.Second, "survivor to notice", func() bool { return !survivor.Connected(old.cfg.SelfID) })

			ln, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			cfg := old.cfg
			cfg.Listener = ln
			restarted, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { restarted.Close() })
			waitConnected(t, survivor, restarted)
			if err := survivor.Send(restarted.cfg.SelfID, []byte("welcome back")); err != nil {
				t.Fatal(err)
			}
			if m := next(t, restarted); string(m.Body) != "welcome back" {
				t.Fatalf("got %q", m.Body)
			}
			if err := restarted.Send(survivor.cfg.SelfID, []byte("thanks")); err != nil {
				t.Fatal(err)
			}
			if m := next(t, survivor); string(m.Body) != "thanks" {
				t.Fatalf("got %q", m.Body)
			}
			if ps := survivor.Stats().Peers[restarted.cfg.SelfID]; ps.Reconnects != 1 {
				t.Fatalf("survivor stats %+v, want 1 reconnect", ps)
			}
		})
	}
}

// TestFullQueueDrops connects a site to a peer that completes the handshake
// and then never reads: the kernel buffers fill, the writer blocks, the
// queue fills, and Send keeps returning at once, dropping and counting.
func TestFullQueueDrops(t *testing.T) {
	checkNoLeak(t)
	ln := listen(t)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		readHandshakeHello(c)
		c.Write(appendFrame(nil, frameHello, hello{ProtocolVersion, 2, "test", nil}.encode()))
		accepted <- c // and never read again
	}()
	self := listen(t)
	cfg := testConfig(1, self, map[ID]string{2: ln.Addr().String()})
	cfg.SendQueueLen = 8
	cfg.HeartbeatTimeout = time.Minute // the stalled peer must not be dropped for silence
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	stalled := <-accepted
	defer stalled.Close()
	testwait.For(t, 10*time.Second, "connection", func() bool { return tr.Connected(2) })

	body := make([]byte, 64<<10)
	start := time.Now()
	var full int
	for range 1000 { // 64 MiB: far beyond any socket buffer
		if err := tr.Send(2, body); errors.Is(err, ErrQueueFull) {
			full++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("1000 sends took %v: Send blocked", elapsed)
	}
	st := tr.Stats().Peers[2]
	if full == 0 || st.Drops != uint64(full) {
		t.Fatalf("%d sends refused, stats %+v", full, st)
	}
	if !tr.Connected(2) {
		t.Fatal("a slow peer is not a dead one: connection dropped")
	}
}

// readHandshakeHello reads the dialer's hello on a hand-built acceptor.
func readHandshakeHello(c net.Conn) (hello, error) {
	_, body, err := readFrame(c, maxHandshakeFrame)
	if err != nil {
		return hello{}, err
	}
	return decodeHello(body)
}

// TestSlowPeerDoesNotBlockOthers stalls one peer while another keeps
// receiving.
func TestSlowPeerDoesNotBlockOthers(t *testing.T) {
	checkNoLeak(t)
	sites := group(t, 3, func(c *Config) { c.SendQueueLen = 4; c.RecvQueueLen = 1 })
	waitConnected(t, sites...)
	// Site 2 never reads its Recv channel: its reader blocks, TCP pushes
	// back, and site 1's queue to it fills.
	body := bytes.Repeat([]byte("z"), 32<<10)
	for i := range 2000 {
		sites[0].Send(2, body)
		if i%100 == 0 {
			if err := sites[0].Send(3, []byte("ping")); err != nil {
				t.Fatal(err)
			}
			if m := next(t, sites[2]); string(m.Body) != "ping" {
				t.Fatalf("got %q", m.Body)
			}
		}
	}
	if sites[0].Stats().Peers[2].Drops == 0 {
		t.Fatal("no drops towards the stalled peer")
	}
}

// TestDeadPeerDetectedByHeartbeat connects to a peer that handshakes and
// then goes silent without closing: the heartbeat timeout declares it dead.
func TestDeadPeerDetectedByHeartbeat(t *testing.T) {
	checkNoLeak(t)
	ln := listen(t)
	defer ln.Close()
	conns := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			readHandshakeHello(c)
			c.Write(appendFrame(nil, frameHello, hello{ProtocolVersion, 2, "test", nil}.encode()))
			conns <- c
		}
	}()
	cfg := testConfig(1, listen(t), map[ID]string{2: ln.Addr().String()})
	cfg.HeartbeatInterval = 10 * time.Millisecond
	cfg.HeartbeatTimeout = 100 * time.Millisecond
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	first := <-conns
	defer first.Close()
	ev := func() Message {
		select {
		case m := <-tr.Recv():
			return m
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
		return Message{}
	}
	if m := ev(); m.Kind != KindConnUp {
		t.Fatalf("got %v", m.Kind)
	}
	if m := ev(); m.Kind != KindConnDown {
		t.Fatalf("got %v", m.Kind)
	}
	// And it dials again.
	second := <-conns
	second.Close()
	if tr.Stats().Peers[2].HeartbeatsOut == 0 {
		t.Fatal("no heartbeats sent on an idle connection")
	}
}

// TestNewConnectionReplacesOld plays a dialer that restarted before the
// acceptor noticed: its second connection replaces the first, the first is
// closed, and the events read up, message, down, up.
func TestNewConnectionReplacesOld(t *testing.T) {
	checkNoLeak(t)
	sites := group(t, 1, func(c *Config) {
		c.SelfID = 2
		c.Peers = map[ID]string{1: "127.0.0.1:1"}
	})
	addr := sites[0].Addr().String()
	handshake := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.Write(appendFrame(nil, frameHello, hello{ProtocolVersion, 1, "test", nil}.encode()))
		if _, err := readHandshakeHello(c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	var got []string
	take := func(n int) {
		for range n {
			select {
			case m := <-sites[0].Recv():
				got = append(got, fmt.Sprintf("%v:%s", m.Kind, m.Body))
			case <-time.After(10 * time.Second):
				t.Fatalf("events so far: %v", got)
			}
		}
	}
	first := handshake()
	first.Write(appendFrame(nil, frameData, []byte("from the first")))
	take(2)
	second := handshake()
	second.Write(appendFrame(nil, frameData, []byte("from the second")))
	take(3)
	want := "[conn-up: message:from the first conn-down: conn-up: message:from the second]"
	if fmt.Sprint(got) != want {
		t.Fatalf("events %v, want %s", got, want)
	}
	first.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := readFrame(first, 1024); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("first connection still open: %v", err)
	}
}

// TestMembership adds a third site to a running pair and then removes it.
func TestMembership(t *testing.T) {
	checkNoLeak(t)
	sites := group(t, 2, nil)
	waitConnected(t, sites...)
	ln := listen(t)
	cfg := testConfig(3, ln, map[ID]string{1: sites[0].Addr().String(), 2: sites[1].Addr().String()})
	third, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	// Until the others know site 3, its connections are refused.
	if err := sites[0].Send(3, nil); !errors.Is(err, ErrUnknownSite) {
		t.Fatalf("send to unknown site: %v", err)
	}
	for _, s := range sites {
		if err := s.AddPeer(3, ln.Addr().String()); err != nil {
			t.Fatal(err)
		}
	}
	if err := sites[0].AddPeer(3, "elsewhere:1"); !errors.Is(err, ErrConfig) {
		t.Fatalf("adding a peer twice: %v", err)
	}
	waitConnected(t, sites[0], sites[1], third)
	sites[0].Send(3, []byte("welcome"))
	if m := next(t, third); string(m.Body) != "welcome" {
		t.Fatalf("got %q", m.Body)
	}

	if err := sites[1].RemovePeer(3); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "site 3 to lose site 2", func() bool { return !third.Connected(2) })
	if err := sites[1].Send(3, nil); !errors.Is(err, ErrUnknownSite) {
		t.Fatalf("send to removed site: %v", err)
	}
	if _, ok := sites[1].Stats().Peers[3]; ok {
		t.Fatal("removed peer still in stats")
	}
	if err := sites[1].RemovePeer(3); !errors.Is(err, ErrUnknownSite) {
		t.Fatalf("removing twice: %v", err)
	}
	// Site 1 and 3 are unaffected.
	third.Send(1, []byte("still here"))
	if m := next(t, sites[0]); string(m.Body) != "still here" {
		t.Fatalf("got %q", m.Body)
	}
	// Site 2 (the lower ID, so the dialler of 3) has stopped dialling.
	if sites[1].Connected(3) || third.Connected(2) {
		t.Fatal("removed peer reconnected")
	}
}

// TestHandshakeFloodBounded opens many connections to a site that never
// send a hello: past MaxHandshakes they are closed at once and counted,
// the established connection between the sites keeps working, and once
// the stalled ones are gone new connections get their handshake again.
// closedAtOnce reports whether the far end closes c within 300 ms.
func closedAtOnce(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

// floodFrom opens n connections to addr with d that send nothing; the
// test's end closes them.
func floodFrom(t *testing.T, d *net.Dialer, addr string, n int) []net.Conn {
	t.Helper()
	var flood []net.Conn
	for range n {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial from %v: %v", d.LocalAddr, err)
		}
		t.Cleanup(func() { c.Close() })
		flood = append(flood, c)
	}
	return flood
}

// stillOpen counts the connections the far end has not closed.
func stillOpen(conns []net.Conn) int {
	open := 0
	for _, c := range conns {
		if !closedAtOnce(c) {
			open++
		}
	}
	return open
}

func TestHandshakeFloodBounded(t *testing.T) {
	checkNoLeak(t)
	sites := group(t, 2, func(c *Config) { c.MaxHandshakes = 4 })
	waitConnected(t, sites...)
	addr := sites[1].Addr().String()
	flood := floodFrom(t, &net.Dialer{}, addr, 20)
	testwait.For(t, 10*time.Second, "16 refusals", func() bool { return sites[1].Stats().InboundRefused >= 16 })
	if open := stillOpen(flood); open != 4 {
		t.Fatalf("%d flood connections left in their handshake, want MaxHandshakes = 4", open)
	}
	if err := sites[0].Send(2, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if m := next(t, sites[1]); string(m.Body) != "still here" {
		t.Fatalf("got %q", m.Body)
	}
	for _, c := range flood {
		c.Close()
	}
	testwait.For(t, 10*time.Second, "the handshakes to end", func() bool { return sites[1].handshaking.Load() == 0 })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if closedAtOnce(c) {
		t.Fatal("a connection after the flood was refused")
	}
}

// One host holding connections open in their handshake gets
// MaxHandshakesPerHost of them, not every slot: a member connecting
// from another address still gets in.
func TestHandshakeFloodFromOneHostLeavesOthersIn(t *testing.T) {
	checkNoLeak(t)
	sites := group(t, 2, func(c *Config) { c.MaxHandshakes, c.MaxHandshakesPerHost = 8, 3 })
	waitConnected(t, sites...)
	addr := sites[1].Addr().String()
	flood := floodFrom(t, &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}, addr, 10)
	testwait.For(t, 10*time.Second, "7 refusals", func() bool { return sites[1].Stats().InboundRefused >= 7 })
	if open := stillOpen(flood); open != 3 {
		t.Fatalf("%d flood connections from one host left in their handshake, want MaxHandshakesPerHost = 3", open)
	}
	// Another host (127.0.0.1, the members') still has slots.
	for i := range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if closedAtOnce(c) {
			t.Fatalf("connection %d from another host refused while one host held its share", i)
		}
	}
	if got := sites[1].Stats().InboundRefused; got != 7 {
		t.Fatalf("%d connections refused, want the 7 over the flooding host's share", got)
	}
}
