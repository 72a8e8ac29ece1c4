package env

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"sync"
	"testing"
	"time"

	"logship/wal"
	"logship/wal/lsn"
)

// testConfig is a small configuration: small log files, a short apply
// delay, quiet logging.
func testConfig() Config {
	c := DefaultConfig()
	c.LogFileSize = 64 << 10
	c.MaxValueSize = 8 << 10
	c.ApplyDelay = 0
	c.Logger = discardLogger()
	return c
}

func openTest(t testing.TB, dir string, cfg Config) *Env {
	t.Helper()
	e, err := Open(dir, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

// gate holds the applier before each batch while closed.
type gate struct {
	mu   sync.Mutex
	open chan struct{}
}

func newGate() *gate { return &gate{open: make(chan struct{})} }

func (g *gate) wait() {
	g.mu.Lock()
	ch := g.open
	g.mu.Unlock()
	<-ch
}

// release lets the applier run from now on.
func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

// openGated opens an environment whose applier waits for g.release.
func openGated(t testing.TB, dir string, cfg Config) (*Env, *gate) {
	g := newGate()
	cfg.hooks = &testHooks{beforeApply: g.wait}
	t.Cleanup(g.release) // before Close (cleanups run last first)
	e := openTest(t, dir, cfg)
	return e, g
}

func put(t testing.TB, e *Env, bucket, key, value string) Token {
	t.Helper()
	tok, err := e.Update(context.Background(), func(tx *Tx) error {
		return tx.Put(bucket, []byte(key), []byte(value))
	})
	if err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return tok
}

func del(t testing.TB, e *Env, bucket, key string) Token {
	t.Helper()
	tok, err := e.Update(context.Background(), func(tx *Tx) error {
		return tx.Delete(bucket, []byte(key))
	})
	if err != nil {
		t.Fatalf("delete %s/%s: %v", bucket, key, err)
	}
	return tok
}

// txGet reads a key through an Update (all layers).
func txGet(t testing.TB, e *Env, bucket, key string) (string, bool) {
	t.Helper()
	var v []byte
	_, err := e.Update(context.Background(), func(tx *Tx) (err error) {
		v, err = tx.Get(bucket, []byte(key))
		return err
	})
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	return string(v), v != nil
}

// viewGet reads a key with View: on a master or without replication
// every commit that returned, on a client the applied data.
func viewGet(t testing.TB, e *Env, bucket, key string) (string, bool) {
	t.Helper()
	return readGet(t, e.View, bucket, key)
}

// appliedGet reads a key of the applied data (ViewApplied).
func appliedGet(t testing.TB, e *Env, bucket, key string) (string, bool) {
	t.Helper()
	return readGet(t, e.ViewApplied, bucket, key)
}

func readGet(t testing.TB, view func(func(*ReadTx) error) error, bucket, key string) (string, bool) {
	t.Helper()
	var v []byte
	err := view(func(rt *ReadTx) (err error) {
		v, err = rt.Get(bucket, []byte(key))
		return err
	})
	if err != nil {
		t.Fatalf("view get %s/%s: %v", bucket, key, err)
	}
	return string(v), v != nil
}

// dump returns the applied data as bucket -> key -> value, and the applied
// LSN it reflects.
func dump(t testing.TB, e *Env) (map[string]map[string]string, lsn.LSN) {
	t.Helper()
	out := map[string]map[string]string{}
	var applied lsn.LSN
	err := e.View(func(rt *ReadTx) error {
		applied = rt.AppliedLSN()
		return rt.Buckets(func(b string) error {
			m := map[string]string{}
			out[b] = m
			return rt.Scan(b, Range{}, func(k, v []byte) error {
				m[string(k)] = string(v)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	dropEmpty(out)
	return out, applied
}

// replayLog rebuilds the data by decoding every record of the log from the
// first one up to and including `upTo` (all of them if upTo is Zero).
func replayLog(t testing.TB, l *wal.Log, upTo lsn.LSN) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	rd, err := l.NewReader(lsn.Zero)
	if err != nil {
		t.Fatalf("reader: %v", err)
	}
	defer rd.Close()
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read log: %v", err)
		}
		if !upTo.IsZero() && upTo.Less(rec.LSN) {
			break
		}
		r, err := decodeRecord(rec.Payload)
		if err != nil {
			t.Fatalf("decode %s: %v", rec.LSN, err)
		}
		for _, o := range r.ops {
			m := out[string(o.bucket)]
			if m == nil {
				m = map[string]string{}
				out[string(o.bucket)] = m
			}
			if o.kind == opPut {
				m[string(o.key)] = string(o.value)
			} else {
				delete(m, string(o.key))
			}
		}
	}
	dropEmpty(out)
	return out
}

func dropEmpty(m map[string]map[string]string) {
	maps.DeleteFunc(m, func(_ string, v map[string]string) bool { return len(v) == 0 })
}

func equalData(a, b map[string]map[string]string) bool {
	return maps.EqualFunc(a, b, func(x, y map[string]string) bool { return maps.Equal(x, y) })
}

func diffData(a, b map[string]map[string]string) string {
	for bk, m := range a {
		for k, v := range m {
			if w, ok := b[bk][k]; !ok || w != v {
				return fmt.Sprintf("%s/%s: %q vs %q (present %v)", bk, k, v, w, ok)
			}
		}
	}
	for bk, m := range b {
		for k, v := range m {
			if _, ok := a[bk][k]; !ok {
				return fmt.Sprintf("%s/%s: missing vs %q", bk, k, v)
			}
		}
	}
	return "equal"
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

const within = 20 * time.Second
