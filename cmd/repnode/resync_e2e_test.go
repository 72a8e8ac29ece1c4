package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"logship/cmd/internal/api"
	"logship/internal/testwait"
)

// resyncMB is the size of the store the re-sync tests build: several
// hundred MB by default, as the issue that asked for them saw failovers
// at ~550 MB; LOGSHIP_RESYNC_MB changes it (a faster disk needs more to
// show a stall).
func resyncMB(t *testing.T) int {
	if v := os.Getenv("LOGSHIP_RESYNC_MB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("LOGSHIP_RESYNC_MB=%q: want a positive integer", v)
		}
		return n
	}
	return 300
}

// bulkLoad writes mb MiB of 256 KiB values to the master with four
// writers, each key once.
func bulkLoad(t *testing.T, master *proc, prefix string, mb int) {
	t.Helper()
	const size = 256 << 10
	val := make([]byte, size)
	_, _ = rand.Read(val)
	n := mb * (1 << 20) / size
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 30 * time.Second}
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				req, _ := http.NewRequest("PUT", fmt.Sprintf("http://%s/v1/kv/bulk/%s%d", master.http, prefix, i), bytes.NewReader(val))
				resp, err := c.Do(req)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("PUT %s%d: %d", prefix, i, resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatalf("bulk load: %v", err)
	default:
	}
}

// mastership watches the master's role and generation as every site
// sees them, every 20 ms, until stopped: any change is a failover the
// test did not ask for.
type mastership struct {
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	changes []string
}

func watchMastership(t *testing.T, procs map[int]*proc, master int, gen uint64) *mastership {
	w := &mastership{stop: make(chan struct{}), done: make(chan struct{})}
	procs = maps.Clone(procs) // the sites running now; the caller adds more
	go func() {
		defer close(w.done)
		c := &http.Client{Timeout: 2 * time.Second}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for range 100000 {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			for id, p := range procs {
				var st api.Status
				if err := getJSON(c, "http://"+p.http+"/v1/status", &st); err != nil {
					continue // a site being started or stopped
				}
				if st.Master != 0 && (st.Master != uint64(master) || st.Gen != gen) || id == master && st.Role != "master" {
					w.mu.Lock()
					w.changes = append(w.changes, fmt.Sprintf("site %d: role %s, master %d, gen %d (want master %d, gen %d)",
						id, st.Role, st.Master, st.Gen, master, gen))
					w.mu.Unlock()
				}
			}
		}
	}()
	t.Cleanup(w.end)
	return w
}

func (w *mastership) end() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// check ends the watch and fails the test if the mastership changed.
func (w *mastership) check(t *testing.T) {
	t.Helper()
	w.end()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.changes) > 0 {
		t.Fatalf("the master lost its role or generation while serving the re-sync (%d observations), first: %s",
			len(w.changes), w.changes[0])
	}
}

// resyncGroup starts sites 1 and 2 of three, elected with default
// timings (site 1 preferred), loads mb MiB into them, and returns the
// group, the processes, the master and its generation.
func resyncGroup(t *testing.T, bin string, extra ...string) (group, map[int]*proc, map[int]string) {
	g := newGroup(t, 3)
	dirs := map[int]string{1: t.TempDir(), 2: t.TempDir(), 3: t.TempDir()}
	procs := map[int]*proc{}
	for id, prio := range map[int]string{1: "100", 2: "50"} {
		procs[id] = startProc(t, bin, g.http[id], append(append(g.args(id, dirs[id]), "--priority", prio), extra...)...)
	}
	return g, procs, dirs
}

// resyncUnderLoad watches the mastership and runs writers on master m
// while site 3 starts (start) and re-syncs until done holds; then it
// fails the test if the master lost its role or generation meanwhile. It
// returns the writers' results.
func resyncUnderLoad(t *testing.T, procs map[int]*proc, m int, what string, start func() *proc, done func(*proc) bool) []loadResult {
	t.Helper()
	w := watchMastership(t, procs, m, status(t, procs[m]).Gen)
	stop := make(chan struct{})
	loaded := make(chan []loadResult, 1)
	go func() { loaded <- underLoad("http://"+procs[m].http, "during-", 4, 100000, stop) }()
	began := time.Now()
	procs[3] = start()
	testwait.Poll(t, 3*time.Minute, 50*time.Millisecond, what, func() bool { return done(procs[3]) })
	t.Logf("%s: %d MiB in %v", what, resyncMB(t), time.Since(began).Round(time.Millisecond))
	close(stop)
	res := <-loaded
	logSlowTurns(t, procs)
	w.check(t)
	return res
}

// TestInternalInitOfLargeStoreKeepsMaster: a client rebuilt by internal
// init from a store of several hundred MB, while writers run, with
// default timings: the master keeps its role and generation throughout
// (it takes the snapshot off its replication loop), and the client ends
// with the data.
func TestInternalInitOfLargeStoreKeepsMaster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a store of several hundred MB")
	}
	bin := buildBinary(t)
	small := []string{"--log-file-size", strconv.Itoa(16 << 20)}
	g, procs, dirs := resyncGroup(t, bin, small...)
	m := electedMaster(t, procs)
	bulkLoad(t, procs[m], "big", resyncMB(t))
	for _, id := range []int{1, 2} {
		// Forced: site 3, never heard of, is within --log-keep-bytes.
		if code, body, _ := do(t, "POST", "http://"+procs[id].http+"/v1/admin/archive", `{"force":true}`); code != 200 {
			t.Fatalf("archive on site %d: %d %s", id, code, body)
		}
	}
	res := resyncUnderLoad(t, procs, m, "site 3 rebuilt by internal init and in sync", func() *proc {
		return startProc(t, bin, g.http[3], append(append(g.args(3, dirs[3]), "--priority", "10"), small...)...)
	}, func(p *proc) bool {
		return status(t, p).SyncState == "ready" && metric(t, p, "logship_inits_done_total") >= 1
	})
	answered := 0
	for _, r := range res {
		answered += r.answered
	}
	if answered == 0 {
		t.Fatal("no write succeeded during the init")
	}
	at := putKeys(t, procs[m], "after", 1)
	if !hasKeys(t, procs[3], "after", 1, at) {
		t.Fatalf("site 3 does not follow the master after its init\n%s", procs[3].log())
	}
	code, body, _ := do(t, "GET", "http://"+procs[3].http+"/v1/kv/bulk/big0", "")
	if code != 200 || len(body) != 256<<10 {
		t.Fatalf("site 3 lacks the bulk data: %d, %d bytes", code, len(body))
	}
}

// TestLongCatchUpByLogKeepsMaster: a client down while several hundred
// MB are written catches up by log (no init) while writers run, and the
// master keeps its role and generation throughout.
func TestLongCatchUpByLogKeepsMaster(t *testing.T) {
	if testing.Short() {
		t.Skip("writes several hundred MB")
	}
	bin := buildBinary(t)
	g, procs, dirs := resyncGroup(t, bin)
	m := electedMaster(t, procs)
	procs[3] = startProc(t, bin, g.http[3], append(g.args(3, dirs[3]), "--priority", "10")...)
	at := putKeys(t, procs[m], "before", 3)
	if !hasKeys(t, procs[3], "before", 3, at) {
		t.Fatal("site 3 lacks the first writes")
	}
	if err := procs[3].stop(t); err != nil {
		t.Fatalf("stop site 3: %v", err)
	}
	delete(procs, 3)
	bulkLoad(t, procs[m], "big", resyncMB(t))
	resyncUnderLoad(t, procs, m, "site 3 caught up by log", func() *proc {
		return startProc(t, bin, g.http[3], append(g.args(3, dirs[3]), "--priority", "10")...)
	}, func(p *proc) bool { return status(t, p).SyncState == "ready" })
	if v := metric(t, procs[3], "logship_inits_total"); v > 0 {
		t.Fatalf("site 3 needed %v internal inits; the log was all there", v)
	}
	at = putKeys(t, procs[m], "after", 1)
	if !hasKeys(t, procs[3], "after", 1, at) {
		t.Fatalf("site 3 does not follow the master\n%s", procs[3].log())
	}
}

// getJSON GETs url into v; for goroutines, where t.Fatal is not allowed.
func getJSON(c *http.Client, url string, v any) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// logSlowTurns logs each site's count of slow turns of its replication
// loop: where a failover came from, when one did.
func logSlowTurns(t *testing.T, procs map[int]*proc) {
	for id, p := range procs {
		t.Logf("site %d: %v slow turns of the replication loop", id, metric(t, p, "logship_loop_slow_turns_total"))
	}
}

// TestClientsCatchUpAtTheirOwnPace: two clients behind by very different
// amounts catch up at once, each at its own pace (a catch-up pass answers
// one client's request): the near one, started second, is in sync while
// the far one is still catching up, and the far one made progress
// meanwhile.
func TestClientsCatchUpAtTheirOwnPace(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a few hundred MB")
	}
	bin := buildBinary(t)
	g := newGroup(t, 3)
	dirs := map[int]string{1: t.TempDir(), 2: t.TempDir(), 3: t.TempDir()}
	m := startProc(t, bin, g.http[1], append(g.args(1, dirs[1]), "--master", "--ack", "none")...)
	clients := map[int]*proc{}
	for _, id := range []int{2, 3} {
		clients[id] = startProc(t, bin, g.http[id], append(g.args(id, dirs[id]), "--client")...)
	}
	at := putKeys(t, m, "a", 3)
	for id, c := range clients {
		if !hasKeys(t, c, "a", 3, at) {
			t.Fatalf("site %d lacks the first writes", id)
		}
	}
	// Site 2 misses all of the load, site 3 only its last few MB.
	from2 := status(t, clients[2]).DurableLSN
	if err := clients[2].stop(t); err != nil {
		t.Fatal(err)
	}
	bulkLoad(t, m, "far", resyncMB(t))
	if err := clients[3].stop(t); err != nil {
		t.Fatal(err)
	}
	bulkLoad(t, m, "near", 8)
	end := status(t, m).LSN
	caughtUp := func(id int) bool {
		st := status(t, clients[id])
		return st.SyncState == "ready" && st.DurableLSN == end
	}
	durable := func(id int) string { return status(t, clients[id]).DurableLSN }

	clients[2] = startProc(t, bin, g.http[2], append(g.args(2, dirs[2]), "--client")...)
	testwait.Poll(t, time.Minute, 50*time.Millisecond, "site 2 catching up", func() bool { return durable(2) != from2 })
	clients[3] = startProc(t, bin, g.http[3], append(g.args(3, dirs[3]), "--client")...)
	at3 := durable(2)
	var at3done string
	testwait.Poll(t, 2*time.Minute, 50*time.Millisecond, "site 3 caught up", func() bool {
		if !caughtUp(3) {
			return false
		}
		at3done = durable(2)
		return true
	})
	if caughtUp(2) {
		t.Fatalf("the far client (%d MiB behind) caught up no later than the near one (8 MiB): no overlap to judge", resyncMB(t))
	}
	if at3done == at3 {
		t.Fatalf("the far client made no progress while the near one caught up (stayed at %s)", at3)
	}
	testwait.Poll(t, 3*time.Minute, 50*time.Millisecond, "site 2 caught up", func() bool { return caughtUp(2) })
	t.Logf("site 2 went from %s to %s while site 3 caught up; the log ends at %s", at3, at3done, end)
}

// TestInternalInitResumesAfterKill: a client killed (SIGKILL) in the
// middle of an internal init resumes the transfer after its restart from
// the bytes it had made durable, instead of copying the snapshot again.
func TestInternalInitResumesAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a store of a few hundred MB")
	}
	bin := buildBinary(t)
	g := newGroup(t, 2)
	dirs := map[int]string{1: t.TempDir(), 2: t.TempDir()}
	small := []string{"--log-file-size", strconv.Itoa(16 << 20)}
	m := startProc(t, bin, g.http[1], append(append(g.args(1, dirs[1]), small...), "--master", "--ack", "none")...)
	bulkLoad(t, m, "big", resyncMB(t))
	if code, body, _ := do(t, "POST", "http://"+m.http+"/v1/admin/archive", `{"force":true}`); code != 200 {
		t.Fatalf("archive: %d %s", code, body)
	}
	args := append(append(g.args(2, dirs[2]), small...), "--client")
	c := startProc(t, bin, g.http[2], args...)
	// Past two of the 32 MiB points at which the client records what it
	// holds durably, and not done.
	var done, total int64
	testwait.Poll(t, 2*time.Minute, 50*time.Millisecond, "the init under way", func() bool {
		st := status(t, c)
		done, total = st.InitDone, st.InitTotal
		return st.SyncState == "init" && st.InitTotal > 0 && done > 80<<20 && done < st.InitTotal-(32<<20)
	})
	c.kill(t)
	c = startProc(t, bin, g.http[2], args...)
	testwait.Poll(t, 3*time.Minute, 50*time.Millisecond, "the client in sync after its restart", func() bool {
		return status(t, c).SyncState == "ready"
	})
	if v := metric(t, c, "logship_inits_resumed_total"); v != 1 {
		t.Fatalf("the restarted client resumed %v inits, want 1\n%s", v, c.log())
	}
	// The chunks asked ahead when the client died are sent twice; a
	// transfer started over would send everything received before again.
	if sent := metric(t, m, "logship_init_bytes_sent_total"); sent >= float64(total+done/2) {
		t.Fatalf("the master sent %.0f snapshot bytes for a snapshot of %d, killed at %d: the transfer started over", sent, total, done)
	}
	at := putKeys(t, m, "after", 1)
	if !hasKeys(t, c, "after", 1, at) {
		t.Fatal("the client does not follow the master after the init")
	}
	code, body, _ := do(t, "GET", "http://"+c.http+"/v1/kv/bulk/big0", "")
	if code != 200 || len(body) != 256<<10 {
		t.Fatalf("the client lacks the bulk data: %d, %d bytes", code, len(body))
	}
}

// TestDivergedFormerMasterRejoinsWithoutCostingTheMaster: a master cut
// off from the others (every site reaches the others through proxies the
// test controls) keeps writing alone (--ack none answers at once) while
// the others elect a new master, which writes more than the old one did
// alone, so every record of the old master's tail lies inside the new
// master's log. Reconnected, the old master walks its tail back with one
// VERIFY_REQ a record, each of which the new master answers on its
// replication loop by deciding whether the LSN is a record start of its
// log. That must stay cheap: when each answer walked the file from its
// first record, a few hundred of them kept the loop from sending
// heartbeats and the group failed over. The new master keeps its role
// and generation, and the old one ends as its client with its writes.
func TestDivergedFormerMasterRejoinsWithoutCostingTheMaster(t *testing.T) {
	bin := buildBinary(t)
	g := newGroup(t, 3)
	px := newProxies(t, g)
	procs := map[int]*proc{}
	for id, prio := range map[int]string{1: "100", 2: "50", 3: "10"} {
		procs[id] = startProc(t, bin, g.http[id], append(px.args(id, t.TempDir()), "--priority", prio, "--ack", "none")...)
	}
	old := electedMaster(t, procs)
	// Many small records: the walk from a file's start is per record.
	if n := total(underLoad("http://"+procs[old].http, "shared-", 8, 600, make(chan struct{}))); n < 4000 {
		t.Fatalf("only %d of 4800 writes answered before the cut", n)
	}

	px.cut(old, true)
	putKeys(t, procs[old], "alone", 300)
	live := map[int]*proc{}
	for id, p := range procs {
		if id != old {
			live[id] = p
		}
	}
	m := electedMaster(t, live)
	at := putKeys(t, procs[m], "new", 600)
	w := watchMastership(t, live, m, status(t, procs[m]).Gen)
	walked := metric(t, procs[m], "logship_log_walked_records_total")
	px.cut(old, false)
	testwait.Poll(t, 30*time.Second, 50*time.Millisecond, "the former master to rejoin as a client in sync", func() bool {
		st := status(t, procs[old])
		return st.Role == "client" && st.Master == uint64(m) && st.SyncState == "ready"
	})
	if !hasKeys(t, procs[old], "new", 600, at) {
		t.Fatalf("the former master lacks the new master's writes\n%s", procs[old].log())
	}
	logSlowTurns(t, procs)
	var st struct{ Replication map[string]any }
	if err := getJSON(&http.Client{Timeout: 5 * time.Second}, "http://"+procs[old].http+"/v1/stats", &st); err != nil {
		t.Fatal(err)
	}
	t.Logf("former master: %v VERIFY_REQ sent, %v records stepped over unasked", st.Replication["verify_requests"], st.Replication["verify_skipped"])
	asked, _ := st.Replication["verify_requests"].(float64)
	if asked < 100 {
		t.Fatalf("the former master sent %v VERIFY_REQ: its tail did not diverge inside the new master's log, so this test tried nothing", asked)
	}
	// The cost, which a loaded machine turns into a failover: records
	// the new master read to answer them. Each answer walks at most
	// 8 KiB of records (a record is at least 12 bytes), not the file.
	perAnswer := (metric(t, procs[m], "logship_log_walked_records_total") - walked) / asked
	t.Logf("new master: %.0f records walked per VERIFY_REQ", perAnswer)
	if perAnswer > 8192/12+1 {
		t.Errorf("the new master walked %.0f log records per VERIFY_REQ, want at most %d", perAnswer, 8192/12+1)
	}
	w.check(t)
}

// total counts the writes underLoad saw answered.
func total(res []loadResult) int {
	n := 0
	for _, r := range res {
		n += r.answered
	}
	return n
}
