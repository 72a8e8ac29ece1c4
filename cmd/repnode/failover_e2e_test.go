package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"logship/cmd/internal/api"
	"logship/env"
	"logship/internal/testwait"
)

// loadResult is what one writer of underLoad saw.
type loadResult struct {
	permanent []string // keys answered 200 with permanent: true
	answered  int      // keys answered 200
}

// underLoad runs writers goroutines that PUT distinct keys to url until
// stop is closed, a write fails (the master died), or each has written
// maxPerWriter keys. It never calls t.Fatal: the writers outlive no test.
func underLoad(url, prefix string, writers, maxPerWriter int, stop <-chan struct{}) []loadResult {
	out := make([]loadResult, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 5 * time.Second}
			for i := range maxPerWriter {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("%s%d-%d", prefix, w, i)
				req, err := http.NewRequest("PUT", url+"/v1/kv/b/"+key, strings.NewReader(key))
				if err != nil {
					return
				}
				resp, err := c.Do(req)
				if err != nil {
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					return
				}
				var r api.WriteResult
				if json.Unmarshal(body, &r) != nil {
					return
				}
				out[w].answered++
				if r.Permanent {
					out[w].permanent = append(out[w].permanent, key)
				}
			}
		}()
	}
	wg.Wait()
	return out
}

// dataDigest opens a stopped site's environment and hashes every bucket,
// key and value it holds, in order, handing each to each if not nil.
func dataDigest(t *testing.T, dir string, each func(bucket, key, value string)) (string, int) {
	t.Helper()
	cfg := env.DefaultConfig()
	e, err := env.Open(dir, cfg)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	defer e.Close()
	h := sha256.New()
	n := 0
	err = e.View(func(rt *env.ReadTx) error {
		return rt.Buckets(func(b string) error {
			return rt.Scan(b, env.Range{}, func(k, v []byte) error {
				n++
				fmt.Fprintf(h, "%q %q %q\n", b, k, v)
				if each != nil {
					each(b, string(k), string(v))
				}
				return nil
			})
		})
	})
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	return fmt.Sprintf("%x", h.Sum(nil)), n
}

// TestSIGKILLMasterUnderLoad: three elected sites with quorum acks under
// write load from several writers; the master is killed with SIGKILL in
// the middle of it. A new master is elected and accepts writes, and holds
// every write answered permanent; the old master restarts on its
// directory, rejoins as a client and catches up; after a clean stop the
// three sites' data are identical.
func TestSIGKILLMasterUnderLoad(t *testing.T) {
	bin := buildBinary(t)
	g := newGroup(t, 3)
	dirs := map[int]string{}
	procs := map[int]*proc{}
	start := func(id int) {
		procs[id] = startProc(t, bin, g.http[id], g.args(id, dirs[id])...)
	}
	for id := 1; id <= 3; id++ {
		dirs[id] = t.TempDir()
		start(id)
	}
	m := electedMaster(t, procs)
	url := "http://" + procs[m].http

	// Load, and SIGKILL once some of it is done; bounded by the writers'
	// key count and by the kill.
	stop := make(chan struct{})
	var results []loadResult
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		results = underLoad(url, "k", 8, 2000, stop)
	}()
	testwait.Poll(t, 20*time.Second, 50*time.Millisecond, "the master commits under load", func() bool {
		return metric(t, procs[m], "logship_commits_total") >= 300
	})
	if err := procs[m].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	procs[m].done <- <-procs[m].done
	select {
	case <-loaded:
	case <-time.After(20 * time.Second):
		close(stop)
		<-loaded
		t.Fatal("writers did not stop after the master died")
	}
	var perm []string
	answered := 0
	for _, r := range results {
		perm = append(perm, r.permanent...)
		answered += r.answered
	}
	if len(perm) < 100 {
		t.Fatalf("only %d writes answered permanent before the kill (%d answered)", len(perm), answered)
	}

	rest := map[int]*proc{}
	for id, p := range procs {
		if id != m {
			rest[id] = p
		}
	}
	nm := electedMaster(t, rest)
	var after api.WriteResult
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "the new master accepts a write", func() bool {
		code, body, _ := do(t, "PUT", "http://"+procs[nm].http+"/v1/kv/b/after-kill", "x")
		if code != 200 {
			return false
		}
		after = decode[api.WriteResult](t, body)
		return true
	})
	for i, key := range perm {
		u := "http://" + procs[nm].http + "/v1/kv/b/" + key
		if i == 0 {
			u += "?min_lsn=" + after.LSN
		}
		code, body, _ := do(t, "GET", u, "")
		if code != 200 || string(body) != key {
			t.Fatalf("write %s answered permanent is not on the new master %d: %d %q", key, nm, code, body)
		}
	}

	// The old master rejoins on its own directory and catches up.
	start(m)
	code, body, _ := do(t, "PUT", "http://"+procs[nm].http+"/v1/kv/b/after-rejoin", "y")
	if code != 200 {
		t.Fatalf("PUT after the old master restarted: %d %s", code, body)
	}
	last := decode[api.WriteResult](t, body).LSN
	testwait.Poll(t, 30*time.Second, 50*time.Millisecond, "every site applied the last write", func() bool {
		for _, p := range procs {
			st := status(t, p)
			if st.AppliedLSN != last || (p != procs[nm] && st.Role != "client") {
				return false
			}
		}
		return true
	})
	if st := status(t, procs[m]); st.Master != uint64(nm) {
		t.Fatalf("old master %d follows %d, want %d", m, st.Master, nm)
	}

	for id, p := range procs {
		if err := p.stop(t); err != nil {
			t.Fatalf("site %d exit: %v", id, err)
		}
	}
	want, n := dataDigest(t, dirs[nm], nil)
	if n < len(perm)+2 {
		t.Fatalf("new master holds %d keys, fewer than the %d permanent writes and 2 more", n, len(perm))
	}
	for id := 1; id <= 3; id++ {
		if got, k := dataDigest(t, dirs[id], nil); got != want {
			t.Errorf("site %d data digest %s (%d keys) differs from the new master's %s (%d keys)", id, got, k, want, n)
		}
	}
	t.Logf("%d writes answered, %d permanent before the kill; %d keys on every site", answered, len(perm), n)
}
