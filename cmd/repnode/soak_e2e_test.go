package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"logship/cmd/internal/api"
	"logship/internal/testwait"
	"logship/wal/lsn"
)

var (
	soakRounds = flag.Int("soak.rounds", 2, "rounds of TestSoakFaults (`make soak` runs many)")
	soakSeed   = flag.Uint64("soak.seed", 0, "seed of TestSoakFaults' choices (0: from the clock, logged)")
	soakSites  = flag.Int("soak.sites", 3, "sites in TestSoakFaults' group")
	soakArgs   = flag.String("soak.args", "", "more repnode flags for every site of TestSoakFaults, space-separated (e.g. --leases)")
)

// soakFault is one way a site dies or stalls in TestSoakFaults.
type soakFault int

const (
	killMaster    soakFault = iota // SIGKILL the master, restart it later
	killClient                     // SIGKILL a client, restart it later
	freezeMaster                   // SIGSTOP the master until another is elected, then SIGCONT
	termMaster                     // SIGTERM the master (clean shutdown), restart it later
	cutMaster                      // cut the master's connections until another is elected
	cutLink                        // cut the connection between two sites for the rest of the round
	archiveClient                  // SIGKILL a client, archive the master's log, restart the client
	soakFaults
)

func (f soakFault) String() string {
	return [...]string{"SIGKILL master", "SIGKILL client", "SIGSTOP master", "SIGTERM master", "cut off master", "cut a link", "SIGKILL client, archive"}[f]
}

// TestSoakFaults runs rounds of write load on elected sites (three, or
// -soak.sites), each with a fault in the middle of the load: the master or
// a client killed with SIGKILL, the master frozen with SIGSTOP until the
// others elect a new one, the master shut down cleanly, or the master's
// connections cut (every site reaches the others through a proxy the test
// controls) until the others elect a new one, the connection between two
// sites cut for the rest of the round, or a client killed while the master
// archives its log with --force (with a small --log-file-size in -soak.args it comes
// back by internal init). After each round the group
// must have one master that accepts writes and holds every write ever
// answered permanent, and every site must have caught up with it; at the
// end the stopped sites' data hash equal. make test runs two rounds; make
// soak runs many (-soak.rounds); a failure logs the seed that repeats the
// same choices (-soak.seed; timing still differs).
func TestSoakFaults(t *testing.T) {
	bin := buildBinary(t)
	seed := *soakSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("soak seed %d, %d rounds, %d sites, repnode flags %q", seed, *soakRounds, *soakSites, *soakArgs)
	rng := rand.New(rand.NewPCG(seed, 0))

	n := *soakSites
	g := newGroup(t, n)
	px := newProxies(t, g)
	dirs := map[int]string{}
	procs := map[int]*proc{}
	start := func(id int) {
		procs[id] = startProc(t, bin, g.http[id], append(px.args(id, dirs[id]), strings.Fields(*soakArgs)...)...)
	}
	for id := 1; id <= n; id++ {
		dirs[id] = t.TempDir()
		start(id)
	}
	var perm []string
	m := electedMaster(t, procs)
	for round := range *soakRounds {
		fault := soakFault(rng.IntN(int(soakFaults)))
		loadFor := time.Duration(200+rng.IntN(1300)) * time.Millisecond
		t.Logf("round %d: master %d, %v after %v of load", round, m, fault, loadFor)

		stop := make(chan struct{})
		loaded := make(chan []loadResult, 1)
		go func() { loaded <- underLoad("http://"+procs[m].http, fmt.Sprintf("r%d-", round), 8, 5000, stop) }()
		time.Sleep(loadFor)

		live := map[int]*proc{}
		for id, p := range procs {
			live[id] = p
		}
		var down int    // the site to restart after the round, if any
		var link [2]int // the sites cutLink separates
		switch fault {
		case killMaster, termMaster:
			sig := syscall.SIGKILL
			if fault == termMaster {
				sig = syscall.SIGTERM
			}
			_ = procs[m].cmd.Process.Signal(sig)
			select {
			case err := <-procs[m].done:
				procs[m].done <- err
			case <-time.After(15 * time.Second):
				t.Fatalf("site %d still running 15s after %v", m, sig)
			}
			down = m
			delete(live, m)
		case killClient, archiveClient:
			down = m%n + 1
			_ = procs[down].cmd.Process.Kill()
			procs[down].done <- <-procs[down].done
			delete(live, down)
		case freezeMaster:
			_ = procs[m].cmd.Process.Signal(syscall.SIGSTOP)
			delete(live, m)
		case cutMaster:
			px.cut(m, true)
			delete(live, m)
		case cutLink:
			a := 1 + rng.IntN(n)
			link = [2]int{a, 1 + (a+rng.IntN(n-1))%n}
			px.cutPair(link[0], link[1], true)
			t.Logf("round %d: link %d-%d cut", round, link[0], link[1])
		}
		var results []loadResult
		select {
		case results = <-loaded:
		case <-time.After(loadFor):
			// Writers on a live master (a client died) or a frozen one
			// do not stop by themselves.
		}
		close(stop)
		if results == nil {
			results = <-loaded
		}
		earlier := len(perm)
		for _, r := range results {
			perm = append(perm, r.permanent...)
		}

		if fault == archiveClient {
			// The master checkpoints and removes the log files recovery no
			// longer needs, with force also those kept for the lagging
			// client; if it needs them it comes back by internal init.
			if code, body, _ := do(t, "POST", "http://"+procs[m].http+"/v1/admin/archive", `{"force":true}`); code != 200 {
				t.Fatalf("round %d: archive on master %d: %d %s", round, m, code, body)
			}
		}
		old := m
		m = electedMaster(t, live)
		switch fault {
		case freezeMaster:
			_ = procs[old].cmd.Process.Signal(syscall.SIGCONT)
		case cutMaster:
			px.cut(old, false)
		case cutLink:
			px.cutPair(link[0], link[1], false)
		}
		if down != 0 {
			start(down)
		}

		// One master, every site caught up with it, every permanent write
		// there.
		w := settle(t, procs, m, fmt.Sprintf("/v1/kv/b/r%d-end", round))
		if st := status(t, procs[m]); st.Role != "master" {
			t.Fatalf("round %d: site %d is %s, not master", round, m, st.Role)
		}
		// This round's permanent writes, and a sample of the earlier ones
		// (all of them are checked at the end).
		check := slices.Clip(perm[earlier:]) // appends must not land in perm's spare room
		for range min(earlier, 200) {
			check = append(check, perm[rng.IntN(earlier)])
		}
		for _, key := range check {
			m = readBack(t, procs, m, round, key, w.LSN)
		}
		t.Logf("round %d: master %d holds the round's %d permanent writes and a sample of %d earlier ones",
			round, m, len(perm)-earlier, len(check)-(len(perm)-earlier))
	}
	// What the faults made the sites do (counters of the processes
	// running now; a restart starts its counters over).
	var inits, rollbacks float64
	for _, p := range procs {
		inits += max(metric(t, p, "logship_inits_done_total"), 0)
		rollbacks += max(metric(t, p, "logship_rollbacks_total"), 0)
	}
	t.Logf("internal inits %v, rollbacks %v (since each running process started)", inits, rollbacks)
	for id, p := range procs {
		if err := p.stop(t); err != nil {
			t.Fatalf("site %d exit: %v", id, err)
		}
	}
	lost := make(map[string]bool, len(perm))
	for _, k := range perm {
		lost[k] = true
	}
	want, keys := dataDigest(t, dirs[m], func(bucket, key, value string) {
		if bucket == "b" {
			delete(lost, key)
		}
	})
	for id := 1; id <= n; id++ {
		if got, k := dataDigest(t, dirs[id], nil); got != want {
			t.Errorf("site %d data digest %s (%d keys) differs from the master's %s (%d keys)", id, got, k, want, keys)
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d of %d writes answered permanent are not in the final master's data", len(lost), len(perm))
	}
	t.Logf("%d writes answered permanent, %d keys on every site", len(perm), keys)
}

// settle waits until master m accepts a write (a PUT of path) and every
// site of procs follows m and applied it; it returns the write's answer.
// readBack checks that the write of key, answered permanent, is on the
// master m, reading after minLSN, and returns the master it read on. A
// master that answers 503 lost its lease since the group settled (under
// --leases a master on this loaded machine can: its clients then elect
// another); that is an availability gap, logged, not a lost write, so
// the read goes to the master elected next, for at most 30 s. Any other
// answer but the key itself fails the test.
func readBack(t *testing.T, procs map[int]*proc, m, round int, key, minLSN string) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body, _ := do(t, "GET", "http://"+procs[m].http+"/v1/kv/b/"+key+"?min_lsn="+minLSN, "")
		if code == 200 && string(body) == key {
			return m
		}
		if code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("round %d: write %s answered permanent is not on master %d: %d %q", round, key, m, code, body)
		}
		t.Logf("round %d: master %d answered 503 (%q) after the group settled; reading on the master elected next", round, m, body)
		m = electedMaster(t, procs)
	}
}

func settle(t *testing.T, procs map[int]*proc, m int, path string) api.WriteResult {
	t.Helper()
	var w api.WriteResult
	testwait.Poll(t, 20*time.Second, 50*time.Millisecond, "the master accepts a write", func() bool {
		code, body, _ := do(t, "PUT", "http://"+procs[m].http+path, "end")
		if code != 200 {
			return false
		}
		w = decode[api.WriteResult](t, body)
		return true
	})
	end, err := lsn.Parse(w.LSN)
	if err != nil {
		t.Fatalf("write answered lsn %q: %v", w.LSN, err)
	}
	testwait.Poll(t, 30*time.Second, 50*time.Millisecond, fmt.Sprintf("every site follows %d and applied %s", m, w.LSN), func() bool {
		for id, p := range procs {
			p.running(t)
			st := status(t, p)
			if applied, err := lsn.Parse(st.AppliedLSN); err != nil || applied.Less(end) {
				return false
			}
			if id != m && (st.Role != "client" || st.Master != uint64(m)) {
				return false
			}
		}
		return true
	})
	return w
}

// proxies stand between every ordered pair of sites: site i reaches site
// j's replication address through its own proxy, so the test can cut a
// site off from the others and heal it.
type proxies struct {
	g  group
	mu sync.Mutex
	p  map[[2]int]*proxy
}

type proxy struct {
	ln     net.Listener
	to     string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
	closed bool
}

func newProxies(t *testing.T, g group) *proxies {
	t.Helper()
	px := &proxies{g: g, p: map[[2]int]*proxy{}}
	for i := range g.rep {
		for j := range g.rep {
			if i == j {
				continue
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			p := &proxy{ln: ln, to: g.rep[j], conns: map[net.Conn]bool{}}
			px.p[[2]int{i, j}] = p
			go p.serve()
			t.Cleanup(p.close)
		}
	}
	return px
}

// args are site id's flags, with its peers reached through the proxies.
func (px *proxies) args(id int, dir string) []string {
	var peers []string
	for j := 1; j <= len(px.g.rep); j++ {
		if j != id {
			peers = append(peers, fmt.Sprintf("%d=%s", j, px.p[[2]int{id, j}].ln.Addr()))
		}
	}
	return []string{"--dir", dir, "--id", fmt.Sprint(id), "--listen", px.g.rep[id], "--peers", strings.Join(peers, ",")}
}

// cut cuts (or heals) every connection to and from site id: open ones
// are closed and new ones refused.
func (px *proxies) cut(id int, cut bool) {
	for k, p := range px.p {
		if k[0] == id || k[1] == id {
			p.setCut(cut)
		}
	}
}

// cutPair cuts (or heals) the connections between sites a and b.
func (px *proxies) cutPair(a, b int, cut bool) {
	px.p[[2]int{a, b}].setCut(cut)
	px.p[[2]int{b, a}].setCut(cut)
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.track(c) {
			go p.pipe(c)
		}
	}
}

// track registers c so that a cut closes it; while cut, or once closed,
// it closes c instead and reports false.
func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut || p.closed {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *proxy) pipe(c net.Conn) {
	defer p.untrack(c)
	d, err := net.DialTimeout("tcp", p.to, time.Second)
	if err != nil || !p.track(d) {
		return
	}
	defer p.untrack(d)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(d, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, d); done <- struct{}{} }()
	<-done
}

func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
	}
}

func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
}
