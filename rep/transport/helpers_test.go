package transport

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"logship/internal/testwait"
)

// logBuffer is a slog handler that keeps every record as text, so tests
// can check that a refusal was logged with its reason.
type logBuffer struct {
	mu    *sync.Mutex
	lines *[]string
	attrs []slog.Attr
}

func newLogBuffer() *logBuffer { return &logBuffer{mu: new(sync.Mutex), lines: new([]string)} }

func (l *logBuffer) Enabled(context.Context, slog.Level) bool { return true }
func (l *logBuffer) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	for _, a := range l.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	l.mu.Lock()
	*l.lines = append(*l.lines, b.String())
	l.mu.Unlock()
	return nil
}
func (l *logBuffer) WithAttrs(as []slog.Attr) slog.Handler {
	c := *l
	c.attrs = append(append([]slog.Attr(nil), l.attrs...), as...)
	return &c
}
func (l *logBuffer) WithGroup(string) slog.Handler { return l }

// find returns the first logged line containing every one of subs.
func (l *logBuffer) find(subs ...string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range *l.lines {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			return line, true
		}
	}
	return "", false
}

// testConfig is a config with short timeouts for loopback tests.
func testConfig(self ID, ln net.Listener, peers map[ID]string) Config {
	c := DefaultConfig()
	c.GroupName = "test"
	c.SelfID = self
	c.Listener = ln
	c.Peers = peers
	c.ReconnectMin = 5 * time.Millisecond
	c.ReconnectMax = 50 * time.Millisecond
	c.HeartbeatInterval = 50 * time.Millisecond
	c.HeartbeatTimeout = 2 * time.Second
	return c
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// group starts n sites with IDs 1..n on loopback, each configured with all
// the others; mod may adjust each config.
func group(t testing.TB, n int, mod func(*Config)) []*TCP {
	t.Helper()
	lns := make([]net.Listener, n)
	addrs := make(map[ID]string, n)
	for i := range lns {
		lns[i] = listen(t)
		addrs[ID(i+1)] = lns[i].Addr().String()
	}
	sites := make([]*TCP, n)
	for i := range sites {
		peers := make(map[ID]string)
		for id, a := range addrs {
			if id != ID(i+1) {
				peers[id] = a
			}
		}
		cfg := testConfig(ID(i+1), lns[i], peers)
		if mod != nil {
			mod(&cfg)
		}
		tr, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		sites[i] = tr
	}
	return sites
}

// waitConnected waits until every site is connected to every other one.
func waitConnected(t testing.TB, sites ...*TCP) {
	t.Helper()
	testwait.For(t, 10*time.Second, "full mesh", func() bool {
		for _, a := range sites {
			for _, b := range sites {
				if a != b && !a.Connected(b.cfg.SelfID) {
					return false
				}
			}
		}
		return true
	})
}

// next returns the next data message from tr, skipping connection events.
func next(t testing.TB, tr *TCP) Message {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-tr.Recv():
			if !ok {
				t.Fatal("receive channel closed")
			}
			if m.Kind == KindMessage {
				return m
			}
		case <-timeout:
			t.Fatalf("site %d: no message within 10s", tr.cfg.SelfID)
		}
	}
}

// checkNoLeak fails if goroutines started during the test outlive it.
func checkNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("goroutines: %d before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(time.Millisecond)
		}
	})
}

func slogger(h slog.Handler) *slog.Logger { return slog.New(h) }
