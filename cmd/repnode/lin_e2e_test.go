package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"logship/cmd/internal/api"
	"logship/internal/testwait"
)

// linFault is the fault in the middle of a round of TestSoakLinearizable.
type linFault int

const (
	linCutMaster    linFault = iota // cut the master's replication connections until another site is elected; clients still reach its HTTP API
	linFreezeMaster                 // SIGSTOP the master until another is elected, then SIGCONT
	linFillDisk                     // the master's file writes fail (RLIMIT_FSIZE) and it steps down; once another is elected, restart it without the limit
	linFaults
)

func (f linFault) String() string {
	return [...]string{"cut off master", "SIGSTOP master", "fill master's disk"}[f]
}

const (
	linKeys         = 5 // shared keys a round writes and reads: few, so that operations conflict
	linWriters      = 3 // clients writing the shared keys
	linReaders      = 3 // clients reading them with lease reads
	linTokenClients = 2 // clients writing keys of their own, each write then read with its token on another site
	linClients      = linWriters + linReaders + linTokenClients
	// A write with quorum acks answers within --ack-timeout (1s), a lease
	// read within the lease, a token read within --read-timeout (1s); a
	// request to a frozen site answers never.
	linRequestTimeout = 2500 * time.Millisecond
	linMaxOps         = 3000 // per client and round, to bound the history whatever the speed
	linCheckTimeout   = 30 * time.Second
)

// TestSoakLinearizable runs rounds of mixed load on three elected sites
// with master leases, each round with a fault in the middle: the master
// cut off from the others (its HTTP API still reachable), frozen with
// SIGSTOP, or its disk full; the test waits until another site is
// elected, heals the fault (a site whose disk filled is restarted, as an
// operator would after freeing space) and lets the load go on for a
// while. Writers PUT to a few shared keys on the site they believe is
// the master, readers do lease reads of them there; the history of
// writes and lease reads must be linearizable, each key a register
// (porcupine). Writes refused with 503 "not the master" never happened;
// any other answer but 200 permanent leaves a write's outcome unknown.
// Token clients write keys of their own and read each write back with
// its token on another site: the read answers exactly that value, or no
// data, or 410 Gone only if the write was not answered permanent. At the
// end every write answered permanent must be on the final master. make
// test runs two rounds, make soak many (-soak.rounds); a failure logs
// the seed that repeats the same choices (-soak.seed; timing differs)
// and writes porcupine's visualization of the round to a file.
// -soak.sites and -soak.args are TestSoakFaults' alone: the promise
// checked here is the one of three sites with leases and quorum acks.
func TestSoakLinearizable(t *testing.T) {
	bin := buildBinary(t)
	seed := *soakSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("linearizability soak seed %d, %d rounds (repeat with -soak.seed=%d)", seed, *soakRounds, seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	const n = 3
	g := newGroup(t, n)
	px := newProxies(t, g)
	dirs := map[int]string{}
	procs := map[int]*proc{}
	start := func(id int) {
		// A token read waits at most --read-timeout for its write, so one
		// sent to a site cut off from the master does not hold its client
		// for 30s.
		procs[id] = startProc(t, bin, g.http[id], append(px.args(id, dirs[id]), "--leases", "--read-timeout", "1s")...)
	}
	for id := 1; id <= n; id++ {
		dirs[id] = t.TempDir()
		start(id)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: linClients, DialContext: (&net.Dialer{Timeout: time.Second}).DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr, Timeout: linRequestTimeout}
	epoch := time.Now()
	now := func() int64 { return int64(time.Since(epoch)) } // monotonic: time.Since reads the monotonic clock

	var (
		history []linOp               // every round's, for the final check
		final   = map[string]string{} // each key's value read on the master at the end of its round
		total   linCounts
	)
	m := electedMaster(t, procs)
	for round := range *soakRounds {
		fault := linFault(rng.IntN(int(linFaults)))
		faultAt := time.Duration(400+rng.IntN(600)) * time.Millisecond
		after := time.Duration(500+rng.IntN(700)) * time.Millisecond
		t.Logf("round %d: master %d, %v after %v of load", round, m, fault, faultAt)
		var notes []porcupine.Annotation
		note := func(what string) {
			notes = append(notes, porcupine.Annotation{Tag: "test", Start: now(), Description: what})
		}

		// The load, stopped (and waited for) before the round ends,
		// also when it ends with t.Fatal: no client outlives its round.
		keys := make([]string, linKeys)
		for i := range keys {
			keys[i] = fmt.Sprintf("r%d-k%d", round, i)
		}
		clients := make([]*linClient, linClients)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i := range clients {
			c := &linClient{id: i, round: round, sites: g.http, hc: hc, now: now, master: m,
				rng: rand.New(rand.NewPCG(seed, uint64(round)<<16|uint64(i)+2))}
			clients[i] = c
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch {
				case i < linWriters:
					c.writeLoad(keys, stop)
				case i < linWriters+linReaders:
					c.readLoad(keys, stop)
				default:
					c.tokenLoad(stop)
				}
			}()
		}
		stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })

		roundStart := now()
		func() {
			defer stopLoad()
			time.Sleep(faultAt)
			old := m
			live := map[int]*proc{}
			for id, p := range procs {
				if id != old {
					live[id] = p
				}
			}
			note(fmt.Sprintf("%v (site %d)", fault, old))
			switch fault {
			case linCutMaster:
				px.cut(old, true)
			case linFreezeMaster:
				p := procs[old]
				_ = p.cmd.Process.Signal(syscall.SIGSTOP)
				// Stopped, it would not act on the SIGTERM of cleanup
				// until killed.
				t.Cleanup(func() { _ = p.cmd.Process.Signal(syscall.SIGCONT) })
			case linFillDisk:
				limitFileSize(t, procs[old], 1)
			}
			elected := time.Now()
			m = electedMaster(t, live)
			note(fmt.Sprintf("site %d elected", m))
			t.Logf("round %d: site %d elected %v after the fault", round, m, time.Since(elected).Round(time.Millisecond))
			switch fault {
			case linCutMaster:
				px.cut(old, false)
			case linFreezeMaster:
				_ = procs[old].cmd.Process.Signal(syscall.SIGCONT)
			case linFillDisk:
				_ = procs[old].stop(t) // its storage failed: it may say so in its exit status
				start(old)
			}
			note(fmt.Sprintf("site %d healed", old))
			time.Sleep(after)
		}()
		note("load stopped")

		// One master, every site caught up with it (the healed one too,
		// so the next round starts with three), before the final reads.
		m = electedMaster(t, procs)
		settle(t, procs, m, fmt.Sprintf("/v1/kv/linend/r%d", round))

		var ops []linOp
		var tokens []linTokenRead
		var rc linCounts
		for _, c := range clients {
			ops = append(ops, c.ops...)
			tokens = append(tokens, c.tokens...)
			rc.refused += c.refused
			rc.failedReads += c.failedReads
		}
		// Every key the round wrote, read on the master after the load:
		// with the writes before it, this read says whether any write
		// answered permanent was lost.
		written := map[string]bool{}
		for _, k := range keys {
			written[k] = true
		}
		for _, op := range ops {
			written[op.In.Key] = true
		}
		for _, k := range slices.Sorted(maps.Keys(written)) {
			op := leaseRead(t, procs[m], m, k, now)
			ops = append(ops, op)
			final[k] = op.Out
		}
		rc.count(ops)
		rc.rounds = 1

		v := checkLinearizable(ops, linCheckTimeout)
		rc.pruned = v.Pruned
		if v.Result != porcupine.Ok {
			v.Info.AddAnnotations(notes)
			path := filepath.Join(os.TempDir(), fmt.Sprintf("logship-lin-seed%d-round%d.html", seed, round))
			if err := porcupine.VisualizePath(linModel, v.Info, path); err != nil {
				t.Logf("porcupine visualization: %v", err)
			} else {
				t.Logf("porcupine's visualization of round %d: %s", round, path)
			}
			if v.Result == porcupine.Unknown {
				t.Fatalf("round %d (%v, seed %d): porcupine could not decide within %v whether the %d operations are linearizable; "+
					"that is not a pass: make the rounds shorter or raise linCheckTimeout", round, fault, seed, linCheckTimeout, v.Ops)
			}
			t.Fatalf("round %d (%v, seed %d): the history of writes and lease reads is not linearizable (%d operations; times since the test began; the fault at %.3fs)\n%s",
				round, fault, seed, v.Ops, time.Duration(notes[0].Start).Seconds(), v.Blame)
		}

		var bad []string
		for _, tr := range tokens {
			ok, why := tr.check()
			switch {
			case !ok:
				bad = append(bad, why)
			case tr.Code == 200:
				rc.tokenReads++
			case tr.Code == http.StatusGone:
				rc.tokenGone++
			default:
				rc.tokenNoData++
			}
		}
		if len(bad) > 0 {
			t.Fatalf("round %d (%v, seed %d): %d token reads broke read-your-writes, e.g.:\n\t%s",
				round, fault, seed, len(bad), strings.Join(bad[:min(len(bad), 10)], "\n\t"))
		}
		t.Logf("round %d: %v; linearizable, checked in %v; %.1fs of load",
			round, rc, v.Took.Round(time.Millisecond), time.Duration(notes[len(notes)-1].Start-roundStart).Seconds())
		history = append(history, ops...)
		total.add(rc)
	}

	// Every write answered permanent is on the final master: each key
	// holds the value it held at the end of its round (or that of a write
	// that never answered, which may land late), and no value there was
	// written before a permanent write of the key began.
	writes := map[linInput]linOp{}
	perms := map[string][]linOp{}
	for _, op := range history {
		if op.In.Write {
			writes[op.In] = op
			if op.Permanent {
				perms[op.In.Key] = append(perms[op.In.Key], op)
			}
		}
	}
	var lost []string
	for _, k := range slices.Sorted(maps.Keys(final)) {
		got := leaseRead(t, procs[m], m, k, now).Out
		x, found := writes[linInput{Key: k, Write: true, Value: got}]
		if got != final[k] && !(found && x.Late) {
			lost = append(lost, fmt.Sprintf("key %s: %s at the end of its round, now %s on master %d", k, describeValue(final[k]), describeValue(got), m))
			continue
		}
		for _, p := range perms[k] {
			switch {
			case got == "" || !found:
				lost = append(lost, fmt.Sprintf("key %s is %s on master %d; lost: %s", k, describeValue(got), m, p))
			case !x.Late && x.Return < p.Call:
				lost = append(lost, fmt.Sprintf("key %s is %s on master %d, written before this permanent write began:\n\t\t%s\n\t\t(%s)", k, describeValue(got), m, p, x))
			}
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d writes answered permanent are not on the final master (seed %d), e.g.:\n\t%s", len(lost), seed, strings.Join(lost[:min(len(lost), 10)], "\n\t"))
	}
	t.Logf("%v in %d rounds; every write answered permanent is on the final master %d", total, total.rounds, m)
}

// leaseRead reads key with a lease read on master p (site id), retrying
// until the site answers 200 or 404, and returns it as an operation of
// the history (client linClients, after every load client).
func leaseRead(t *testing.T, p *proc, id int, key string, now func() int64) linOp {
	t.Helper()
	var op linOp
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, fmt.Sprintf("a lease read of %s on master %d", key, id), func() bool {
		op = linOp{Client: linClients, In: linInput{Key: key}, Site: id, Call: now()}
		code, body, _ := do(t, "GET", "http://"+p.http+"/v1/kv/lin/"+key+"?lease=true", "")
		op.Return = now()
		op.Outcome = fmt.Sprint(code)
		switch code {
		case http.StatusOK:
			op.Out = string(body)
		case http.StatusNotFound:
		default:
			return false
		}
		return true
	})
	return op
}

// linCounts counts what a round (or the test) recorded and checked.
type linCounts struct {
	rounds                             int
	ops, reads, writes, perm, unknown  int // operations in the history
	pruned                             int // unknown writes no read saw, left out of the check
	refused                            int // writes refused (503 not the master): never happened, not in the history
	failedReads                        int // reads that returned no data (503, timeout): not in the history
	tokenReads, tokenGone, tokenNoData int
}

func (c *linCounts) count(ops []linOp) {
	for _, op := range ops {
		c.ops++
		switch {
		case !op.In.Write:
			c.reads++
		case op.Permanent:
			c.writes++
			c.perm++
		default:
			c.writes++
			if op.Unknown {
				c.unknown++
			}
		}
	}
}

func (c *linCounts) add(o linCounts) {
	c.rounds += o.rounds
	c.ops += o.ops
	c.reads += o.reads
	c.writes += o.writes
	c.perm += o.perm
	c.unknown += o.unknown
	c.pruned += o.pruned
	c.refused += o.refused
	c.failedReads += o.failedReads
	c.tokenReads += o.tokenReads
	c.tokenGone += o.tokenGone
	c.tokenNoData += o.tokenNoData
}

func (c linCounts) String() string {
	return fmt.Sprintf("%d operations recorded: %d lease reads, %d writes (%d permanent, %d unknown outcome, %d of those read by nobody and left out of the check); "+
		"%d writes refused as not the master, %d reads without data; token reads: %d read their write, %d gone (410), %d without data",
		c.ops, c.reads, c.writes, c.perm, c.unknown, c.pruned, c.refused, c.failedReads, c.tokenReads, c.tokenGone, c.tokenNoData)
}

// linClient is one goroutine of a round's load. It sends each request to
// the site it believes is the master and changes its mind on a 503 that
// names another master or, lacking that hint, on any failure, by trying
// the next site. It never touches t: it may run while the test fails.
type linClient struct {
	id     int
	round  int
	sites  map[int]string // site id -> HTTP address (read only)
	hc     *http.Client
	rng    *rand.Rand
	now    func() int64
	master int // the site it believes is the master

	ops         []linOp
	tokens      []linTokenRead
	refused     int
	failedReads int
}

// linTokenRead is a read of a client's own write, with its token, on a
// site other than the one it believes is the master.
type linTokenRead struct {
	Write  linOp
	Token  string
	Site   int
	Code   int // 0: no answer
	Body   string
	Return int64
}

// check says whether the answer keeps read-your-writes. Nobody else
// writes the key, and its client starts a new key after a write that
// never answered (which might still land), so the only value a 200 may
// carry is the write's own.
func (r linTokenRead) check() (bool, string) {
	switch {
	case r.Code == http.StatusOK && r.Body == r.Write.In.Value:
		return true, ""
	case r.Code == http.StatusOK || r.Code == http.StatusNotFound:
		return false, fmt.Sprintf("site %d answered %d %q to a read with the token %s of %s", r.Site, r.Code, r.Body, r.Token, r.Write)
	case r.Code == http.StatusGone && r.Write.Permanent:
		return false, fmt.Sprintf("site %d answered 410 Gone to a read with the token %s of a write answered permanent: %s", r.Site, r.Token, r.Write)
	}
	return true, "" // 410 of a write not permanent, or no data
}

func (c *linClient) send(method string, site int, path, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, "http://"+c.sites[site]+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

// follow picks the site to try after a request to c.master failed: the
// master a 503 names, else the next site.
func (c *linClient) follow(code int, body []byte) {
	var e api.ErrorBody
	if code == http.StatusServiceUnavailable && json.Unmarshal(body, &e) == nil && e.Master != 0 && int(e.Master) != c.master {
		if _, ok := c.sites[int(e.Master)]; ok {
			c.master = int(e.Master)
			return
		}
	}
	c.master = c.master%len(c.sites) + 1
	time.Sleep(20 * time.Millisecond) // no hint: do not spin over sites that all refuse
}

// refusedWrite reports whether a write's answer says it was refused
// before anything was appended: the site is not the master, holds no
// lease, or is synchronising (env/site's gate and writeCheck, and a
// commit shut out before it appended, all answer 503 so).
func refusedWrite(code int, body []byte) bool {
	if code != http.StatusServiceUnavailable {
		return false
	}
	var e api.ErrorBody
	if json.Unmarshal(body, &e) != nil {
		return false
	}
	return strings.Contains(e.Error, "not the master") || strings.Contains(e.Error, "not master") || strings.Contains(e.Error, "(lockout)")
}

// write PUTs value to key on the believed master and records it, unless
// it was refused. It returns the answer when the site answered 200.
func (c *linClient) write(key, value string) (linOp, *api.WriteResult) {
	op := linOp{Client: c.id, In: linInput{Key: key, Write: true, Value: value}, Site: c.master, Call: c.now()}
	code, body, err := c.send("PUT", c.master, "/v1/kv/lin/"+key, value)
	op.Return = c.now()
	var w api.WriteResult
	switch {
	case err != nil:
		op.Unknown, op.Late = true, true
		op.Outcome = "no answer"
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			op.Outcome = fmt.Sprintf("no answer in %v", linRequestTimeout)
		}
		c.follow(0, nil)
	case code == http.StatusOK && json.Unmarshal(body, &w) == nil && w.Token != "":
		op.Permanent, op.Unknown = w.Permanent, !w.Permanent
		op.Outcome = fmt.Sprintf("200 lsn %s permanent %t", w.LSN, w.Permanent)
	case refusedWrite(code, body):
		c.refused++
		c.follow(code, body)
		return op, nil
	default:
		op.Unknown, op.Late = true, true
		op.Outcome = fmt.Sprintf("%d %s", code, strings.TrimSpace(string(body)))
		c.follow(code, body)
	}
	c.ops = append(c.ops, op)
	if w.Token == "" {
		return op, nil
	}
	return op, &w
}

func (c *linClient) writeLoad(keys []string, stop <-chan struct{}) {
	for i := range linMaxOps {
		select {
		case <-stop:
			return
		default:
		}
		c.write(keys[c.rng.IntN(len(keys))], fmt.Sprintf("r%d.c%d.%d", c.round, c.id, i))
	}
}

// readLoad does lease reads: on a client they answer 503 rather than a
// stale value, so every answer is one the history must explain.
func (c *linClient) readLoad(keys []string, stop <-chan struct{}) {
	for range linMaxOps {
		select {
		case <-stop:
			return
		default:
		}
		key := keys[c.rng.IntN(len(keys))]
		op := linOp{Client: c.id, In: linInput{Key: key}, Site: c.master, Call: c.now()}
		code, body, err := c.send("GET", c.master, "/v1/kv/lin/"+key+"?lease=true", "")
		op.Return = c.now()
		op.Outcome = fmt.Sprint(code)
		switch {
		case err == nil && code == http.StatusOK:
			op.Out = string(body)
		case err == nil && code == http.StatusNotFound:
		default:
			c.failedReads++
			c.follow(code, body)
			continue
		}
		c.ops = append(c.ops, op)
	}
}

// tokenLoad writes keys nobody else writes and reads each write answered
// 200 back with its token on another site.
func (c *linClient) tokenLoad(stop <-chan struct{}) {
	gen := 0
	for i := range linMaxOps {
		select {
		case <-stop:
			return
		default:
		}
		key := fmt.Sprintf("r%d-t%d.%d", c.round, c.id, gen)
		op, w := c.write(key, fmt.Sprintf("r%d.c%d.%d", c.round, c.id, i))
		if w == nil {
			if op.Late {
				gen++ // it may still land: later writes get a key of their own
			}
			continue
		}
		site := 1 + c.rng.IntN(len(c.sites)-1)
		if site >= c.master {
			site++
		}
		r := linTokenRead{Write: op, Token: w.Token, Site: site}
		code, body, err := c.send("GET", site, "/v1/kv/lin/"+key+"?token="+url.QueryEscape(w.Token), "")
		r.Return = c.now()
		if err == nil {
			r.Code, r.Body = code, string(body)
		}
		c.tokens = append(c.tokens, r)
	}
}
