package site

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"logship/env"
	"logship/internal/sitecore"
	"logship/internal/testwait"
	"logship/rep"
	"logship/rep/transport"
	"logship/rep/transport/memnet"
)

// testNet is the in-memory network of the site tests: a memnet network
// (zero faults: FIFO per link, every message due at once) whose messages
// arrive as they are sent, since every Send is followed by Advance(0).
// It needs no clock, so it runs the same in a synctest bubble and on the
// real one. Links can be cut (both ends get KindConnDown) and restored
// (KindConnUp); a filter can drop rep messages in flight.
type testNet struct {
	*memnet.Network
	mu     sync.Mutex
	ids    map[transport.ID]bool // every site that had an endpoint
	filter func(from, to transport.ID, m rep.Message) bool
	// mutate may change a rep message in flight (return true if it did).
	mutate func(from, to transport.ID, m *rep.Message) bool
}

// newTestNet returns an empty network; the test fails if a delivery ever
// found its receiver's inbox full (memnet drops it and counts it).
func newTestNet(t testing.TB) *testNet {
	n := &testNet{Network: memnet.New(memnet.Config{InboxLen: 1 << 16}), ids: map[transport.ID]bool{}}
	t.Cleanup(func() {
		if st := n.Stats(); st.InboxFull != 0 {
			t.Errorf("test network: %d deliveries dropped on a full inbox", st.InboxFull)
		}
	})
	return n
}

// testEP is one site's endpoint on a testNet.
type testEP struct {
	*memnet.Endpoint
	net *testNet
}

// endpoint attaches (or, after its Close, reattaches) site id; the
// sites it can reach and it get connection-up events.
func (n *testNet) endpoint(id transport.ID) *testEP {
	n.mu.Lock()
	n.ids[id] = true
	n.mu.Unlock()
	return &testEP{Endpoint: n.Endpoint(id), net: n}
}

// setLink cuts or restores the link between a and b, both ways.
func (n *testNet) setLink(a, b transport.ID, up bool) {
	n.SetLink(a, b, up)
	n.SetLink(b, a, up)
}

// setFilter makes every rep message f returns true for lost in flight
// (nil: none is).
func (n *testNet) setFilter(f func(from, to transport.ID, m rep.Message) bool) {
	n.mu.Lock()
	n.filter = f
	n.mu.Unlock()
}

// drops reports whether the filter loses body on its way from -> to.
func (n *testNet) drops(from, to transport.ID, body []byte) bool {
	n.mu.Lock()
	f := n.filter
	n.mu.Unlock()
	if f == nil {
		return false
	}
	m, ok := repMessage(body)
	return ok && f(from, to, m)
}

// repMessage decodes body if it is a rep message.
func repMessage(body []byte) (rep.Message, bool) {
	if len(body) == 0 || body[0] != sitecore.EnvelopeRep {
		return rep.Message{}, false
	}
	m, err := rep.Unmarshal(body[1:])
	return m, err == nil
}

// setMutate makes f see every rep message in flight and change it as it
// likes (nil: none is changed).
func (n *testNet) setMutate(f func(from, to transport.ID, m *rep.Message) bool) {
	n.mu.Lock()
	n.mutate = f
	n.mu.Unlock()
}

// mutated returns body as the mutate hook leaves it.
func (n *testNet) mutated(from, to transport.ID, body []byte) []byte {
	n.mu.Lock()
	f := n.mutate
	n.mu.Unlock()
	if f == nil {
		return body
	}
	m, ok := repMessage(body)
	if !ok || !f(from, to, &m) {
		return body
	}
	b, err := sitecore.Encode(m)
	if err != nil {
		panic(err)
	}
	return b
}

// Send sends body to site to and delivers it at once. A message the
// filter drops is accepted, as the network would, and lost.
func (e *testEP) Send(to transport.ID, body []byte) error {
	if e.net.drops(e.ID(), to, body) && e.Connected(to) {
		return nil
	}
	body = e.net.mutated(e.ID(), to, body)
	err := e.Endpoint.Send(to, body)
	e.net.Advance(0)
	return err
}

// Broadcast sends body to every site it is connected to, through Send
// (and its filter).
func (e *testEP) Broadcast(body []byte) int {
	e.net.mu.Lock()
	ids := slices.Sorted(maps.Keys(e.net.ids))
	e.net.mu.Unlock()
	k := 0
	for _, id := range ids {
		if id != e.ID() && e.Connected(id) && e.Send(id, body) == nil {
			k++
		}
	}
	return k
}

// repSite is one replicated environment in a site test: the
// environment, the site running on it (e), its transport.
type repSite struct {
	id     SiteID
	dir    string
	env    *env.Env
	e      *Site
	ep     *testEP             // the in-memory endpoint, or nil
	tr     transport.Transport // the transport replication runs on
	events chan Event
}

// testConfig is a small environment: short log files, no apply delay.
func testConfig() env.Config {
	c := env.DefaultConfig()
	c.LogFileSize = 64 << 10
	c.MaxValueSize = 8 << 10
	c.ApplyDelay = 0
	c.Logger = discardLogger()
	return c
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startRepSite opens (or reopens) the environment in dir with replication
// over net. mod adjusts the replication config.
func startRepSite(t testing.TB, net *testNet, id SiteID, ids []SiteID, dir string, ecfg env.Config, mod func(*Config)) *repSite {
	t.Helper()
	e, err := env.Open(dir, ecfg)
	if err != nil {
		t.Fatalf("site %d: Open: %v", id, err)
	}
	ep := net.endpoint(transport.ID(id))
	return startRepSiteOn(t, &repSite{id: id, dir: dir, env: e, ep: ep, tr: ep, events: make(chan Event, 4096)}, ids, ecfg, mod)
}

// startRepSiteOn starts replication on s.env over s.tr.
func startRepSiteOn(t testing.TB, s *repSite, ids []SiteID, ecfg env.Config, mod func(*Config)) *repSite {
	t.Helper()
	id := s.id
	rc := DefaultConfig()
	rc.Transport, rc.ID, rc.Priority, rc.Events = s.tr, id, 1, s.events
	rc.Timing.RequestMin = 10 * time.Millisecond
	rc.Timing.RequestMax = 100 * time.Millisecond
	rc.Logger = ecfg.Logger
	for _, o := range ids {
		if o != id {
			rc.Sites = append(rc.Sites, Member{ID: o})
		}
	}
	if mod != nil {
		mod(&rc)
	}
	var err error
	if s.e, err = Start(s.env, rc); err != nil {
		t.Fatalf("site %d: Start: %v", id, err)
	}
	t.Cleanup(func() { s.stop() })
	return s
}

// stop closes the site, the environment and the transport.
func (s *repSite) stop() {
	_ = s.e.Close()
	_ = s.env.Close()
	_ = s.tr.Close()
}

func (s *repSite) status(t testing.TB) Status {
	t.Helper()
	return s.e.Status()
}

func (s *repSite) stats(t testing.TB) Stats {
	t.Helper()
	return s.e.Stats()
}

// waitEvent waits for a rep event of type typ on s.
func (s *repSite) waitEvent(t testing.TB, within time.Duration, typ EventType) RepEvent {
	t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		select {
		case ev := <-s.events:
			if ev.Rep != nil && ev.Rep.Type == typ {
				return *ev.Rep
			}
		case <-timer.C:
			t.Fatalf("site %d: no %s event within %v", s.id, typ, within)
		}
	}
}

// caughtUp waits until s is a ready client holding at least at, applied.
func (s *repSite) caughtUp(t testing.TB, within time.Duration, at env.Token) {
	t.Helper()
	testwait.For(t, within, fmt.Sprintf("site %d to reach %s", s.id, at.LSN), func() bool {
		st := s.status(t)
		return st.SyncState == rep.SyncReady && !st.DurableLSN.Less(at.LSN)
	})
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := s.env.WaitApplied(ctx, env.Token{LSN: at.LSN}); err != nil {
		t.Fatalf("site %d: WaitApplied: %v", s.id, err)
	}
}

func repPut(t testing.TB, s *Site, key, value string) env.Token {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := s.Update(ctx, func(tx *env.Tx) error { return tx.Put("b", []byte(key), []byte(value)) })
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return tok
}

// viewGet reads a key with the site's View.
func viewGet(t testing.TB, s *Site, bucket, key string) (string, bool) {
	t.Helper()
	var v []byte
	err := s.View(func(rt *env.ReadTx) (err error) {
		v, err = rt.Get(bucket, []byte(key))
		return err
	})
	if err != nil {
		t.Fatalf("view get %s/%s: %v", bucket, key, err)
	}
	return string(v), v != nil
}

// dump returns the applied data as bucket -> key -> value.
func dump(t testing.TB, e *env.Env) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	err := e.ViewApplied(func(rt *env.ReadTx) error {
		return rt.Buckets(func(b string) error {
			m := map[string]string{}
			err := rt.Scan(b, env.Range{}, func(k, v []byte) error {
				m[string(k)] = string(v)
				return nil
			})
			if len(m) > 0 {
				out[b] = m
			}
			return err
		})
	})
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	return out
}

// mustData fails unless a and b hold the same data once each has applied
// its whole log.
func mustData(t testing.TB, a, b *env.Env) {
	t.Helper()
	for _, e := range []*env.Env{a, b} {
		ctx, cancel := context.WithTimeout(context.Background(), within)
		err := e.WaitApplied(ctx, env.Token{LSN: e.Stats().LastLSN})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	da, db := dump(t, a), dump(t, b)
	if !maps.EqualFunc(da, db, maps.Equal) {
		t.Fatal(diffData(da, db))
	}
}

// diffData describes how two dumps differ.
func diffData(a, b map[string]map[string]string) string {
	var out []string
	for _, bk := range slices.Sorted(maps.Keys(a)) {
		for _, k := range slices.Sorted(maps.Keys(a[bk])) {
			if v, ok := b[bk][k]; !ok || v != a[bk][k] {
				out = append(out, fmt.Sprintf("%s/%s: %q vs %q", bk, k, a[bk][k], v))
			}
		}
	}
	for _, bk := range slices.Sorted(maps.Keys(b)) {
		for _, k := range slices.Sorted(maps.Keys(b[bk])) {
			if _, ok := a[bk][k]; !ok {
				out = append(out, fmt.Sprintf("%s/%s: missing vs %q", bk, k, b[bk][k]))
			}
		}
	}
	return "data differs:\n" + strings.Join(out, "\n")
}

const within = 20 * time.Second

// bubbleWatchdog bounds, in real time, how long a test may stay in its
// bubble.
const bubbleWatchdog = 3 * time.Minute

// bubble runs f in a synctest bubble: the sites' tickers, the test's
// waits and the environments' timers run on a fake clock, which jumps to
// the next timer whenever every goroutine of the bubble is durably
// blocked. A goroutine in a system call (an fsync) or waiting for a mutex
// holds the clock still; one stuck so would hang the bubble with no fake
// deadline ever passing, so a real-time watchdog ends the run, with every
// goroutine's stack, instead.
func bubble(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	dog := time.AfterFunc(bubbleWatchdog, func() {
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
		panic(fmt.Sprintf("%s: stuck in its synctest bubble for %v of real time", t.Name(), bubbleWatchdog))
	})
	defer dog.Stop()
	synctest.Test(t, f)
}
