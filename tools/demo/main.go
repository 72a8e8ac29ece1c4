// Command demo runs the README's main job: a local three-site logship
// group that replicates, loses its master to SIGKILL and fails over,
// printing each step in plain words. It starts three repnode processes on
// 127.0.0.1 in a temporary directory, stops them all and removes the
// directory when it ends, whatever happens.
//
//	go run ./tools/demo -repnode bin/repnode     (make demo)
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

var (
	client   = &http.Client{Timeout: 3 * time.Second}
	repadmin string
)

type site struct {
	id         int
	dir        string
	listen     string // replication address
	http       string
	peers      string
	logf       *os.File
	cmd        *exec.Cmd
	exited     chan struct{}
	repnodeBin string
}

type status struct {
	ID         int    `json:"id"`
	Role       string `json:"role"`
	Master     int    `json:"master"`
	Gen        uint64 `json:"gen"`
	LSN        string `json:"lsn"`      // end of log: where the next record goes
	LastLSN    string `json:"last_lsn"` // the newest record, what applied_lsn reaches
	AppliedLSN string `json:"applied_lsn"`
	SyncState  string `json:"sync_state"`
}

func main() {
	bin := flag.String("repnode", "bin/repnode", "the repnode binary")
	flag.StringVar(&repadmin, "repadmin", "bin/repadmin", "the repadmin binary")
	keys := flag.Int("keys", 20, "keys to write before the failover")
	flag.Parse()
	root, err := os.MkdirTemp("", "logship-demo-")
	if err != nil {
		fail(err)
	}
	var sites []*site
	code := 0
	func() {
		defer func() {
			if r := recover(); r != nil {
				fmt.Printf("\nDEMO FAILED: %v\n", r)
				for _, s := range sites {
					fmt.Printf("  (site %d's log: %s)\n", s.id, s.logf.Name())
				}
				code = 1
			}
		}()
		sites = run(*bin, root, *keys)
	}()
	step("Stopping every site (SIGTERM) and removing %s", root)
	for _, s := range sites {
		s.stop()
	}
	if code == 0 {
		os.RemoveAll(root)
	}
	os.Exit(code)
}

func run(bin, root string, nkeys int) []*site {
	step("Starting three repnode sites on 127.0.0.1 in %s; with no --master or --client they elect a master", root)
	sites := make([]*site, 3)
	for i := range sites {
		sites[i] = &site{id: i + 1, dir: filepath.Join(root, fmt.Sprintf("site%d", i+1)), listen: freeAddr(), http: freeAddr(), repnodeBin: bin}
	}
	for _, s := range sites {
		var peers []string
		for _, o := range sites {
			if o != s {
				peers = append(peers, fmt.Sprintf("%d=%s", o.id, o.listen))
			}
		}
		s.peers = strings.Join(peers, ",")
		s.start()
		fmt.Printf("   site %d: replication %s, HTTP %s\n", s.id, s.listen, s.http)
	}
	master := waitMaster(sites, nil, 20*time.Second)
	step("Site %d won the election and is master", master.id)
	printStatus(sites)

	step("Writing %d keys to the master with the default ack policy, quorum", nkeys)
	permanent := map[string]string{}
	for i := range nkeys {
		k, v := fmt.Sprintf("key%02d", i), fmt.Sprintf("value %d before the failover", i)
		lsn, perm := put(master, k, v)
		if perm {
			permanent[k] = v
		}
		if i < 3 || i == nkeys-1 {
			fmt.Printf("   PUT demo/%s -> lsn %s, permanent %v\n", k, lsn, perm)
		} else if i == 3 {
			fmt.Println("   ...")
		}
	}
	fmt.Printf("   %d of %d writes reported permanent (acknowledged by a majority)\n", len(permanent), nkeys)
	waitConverged(sites, 10*time.Second)
	step("Every site has applied them; repadmin status on the master:")
	showRepadmin(master)

	step("Killing the master, site %d, with SIGKILL", master.id)
	killed := time.Now()
	master.kill()
	var rest []*site
	for _, s := range sites {
		if s != master {
			rest = append(rest, s)
		}
	}
	nm := waitMaster(rest, master, 20*time.Second)
	lsn, perm := putRetry(nm, "after-failover", "written to the new master", 10*time.Second)
	step("Site %d is the new master; it accepted a write %s after the kill (lsn %s, permanent %v)",
		nm.id, time.Since(killed).Round(time.Millisecond), lsn, perm)
	printStatus(rest)

	step("Checking that every permanent key is on the new master")
	for k, v := range permanent {
		if got, ok := get(nm, k); !ok || got != v {
			panic(fmt.Sprintf("key %s: got %q, want %q", k, got, v))
		}
	}
	fmt.Printf("   all %d permanent keys read back from site %d\n", len(permanent), nm.id)

	step("Restarting the old master, site %d; it rejoins as a client and catches up", master.id)
	master.start()
	waitFor(20*time.Second, "the old master to rejoin and catch up", func() bool {
		st, ok := getStatus(master)
		ms, ok2 := getStatus(nm)
		return ok && ok2 && st.Role == "client" && st.Master == nm.id && st.AppliedLSN == ms.LastLSN
	})
	if got, ok := get(master, "after-failover"); !ok || got != "written to the new master" {
		panic(fmt.Sprintf("the rejoined site lacks the new master's write (%q)", got))
	}
	printStatus(sites)
	step("Done: the group replicated, failed over with every permanent write, and the old master rejoined")
	return sites
}

// showRepadmin prints `repadmin --node ADDR status` for a site, indented.
func showRepadmin(s *site) {
	out, err := exec.Command(repadmin, "--node", s.http, "status").CombinedOutput()
	if err != nil {
		panic(fmt.Sprintf("repadmin status: %v: %s", err, out))
	}
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		fmt.Println("   " + l)
	}
}

func step(format string, args ...any) { fmt.Printf("\n== "+format+"\n", args...) }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "demo:", err)
	os.Exit(1)
}

// freeAddr returns a 127.0.0.1 address nobody listens on right now.
// freeAddr returns a loopback address nobody listens on now, and never
// the same one twice: the kernel may give a closed port out again.
func freeAddr() string {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		a := l.Addr().String()
		l.Close()
		if !handed[a] {
			handed[a] = true
			return a
		}
	}
	panic("demo: no fresh loopback port in 100 tries")
}

var handed = map[string]bool{} // addresses freeAddr returned

func (s *site) start() {
	if s.logf == nil {
		f, err := os.Create(s.dir + ".log")
		if err != nil {
			panic(err)
		}
		s.logf = f
	}
	s.cmd = exec.Command(s.repnodeBin, "--dir", s.dir, "--id", fmt.Sprint(s.id),
		"--listen", s.listen, "--http", s.http, "--peers", s.peers)
	s.cmd.Stdout, s.cmd.Stderr = s.logf, s.logf
	if err := s.cmd.Start(); err != nil {
		panic(fmt.Sprintf("start site %d: %v", s.id, err))
	}
	s.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(s.cmd, s.exited)
}

func (s *site) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// stop asks the site to shut down cleanly, then kills it if it takes long.
func (s *site) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		s.kill()
	}
}

func (s *site) url(path string) string { return "http://" + s.http + path }

func getStatus(s *site) (status, bool) {
	var st status
	resp, err := client.Get(s.url("/v1/status"))
	if err != nil {
		return st, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&st) != nil {
		return st, false
	}
	return st, true
}

func waitFor(d time.Duration, what string, cond func() bool) {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			panic("timed out waiting for " + what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitMaster waits until exactly one of sites (other than not) is master
// and the others follow it.
func waitMaster(sites []*site, not *site, d time.Duration) *site {
	var m *site
	waitFor(d, "a master", func() bool {
		m = nil
		for _, s := range sites {
			if st, ok := getStatus(s); ok && st.Role == "master" && s != not {
				if m != nil {
					return false
				}
				m = s
			}
		}
		return m != nil
	})
	return m
}

func waitConverged(sites []*site, d time.Duration) {
	waitFor(d, "every site to apply the master's log", func() bool {
		var lsns []string
		for _, s := range sites {
			st, ok := getStatus(s)
			if !ok {
				return false
			}
			lsns = append(lsns, st.LastLSN, st.AppliedLSN)
		}
		sort.Strings(lsns)
		return lsns[0] == lsns[len(lsns)-1]
	})
}

func printStatus(sites []*site) {
	fmt.Printf("   %-4s %-7s %-6s %-4s %-12s %-12s %s\n", "SITE", "ROLE", "MASTER", "GEN", "LSN", "APPLIED", "SYNC")
	for _, s := range sites {
		st, ok := getStatus(s)
		if !ok {
			fmt.Printf("   %-4d (not answering)\n", s.id)
			continue
		}
		fmt.Printf("   %-4d %-7s %-6d %-4d %-12s %-12s %s\n", st.ID, st.Role, st.Master, st.Gen, st.LSN, st.AppliedLSN, st.SyncState)
	}
}

func put(s *site, k, v string) (string, bool) {
	lsn, perm, err := tryPut(s, k, v)
	if err != nil {
		panic(err)
	}
	return lsn, perm
}

func tryPut(s *site, k, v string) (string, bool, error) {
	req, _ := http.NewRequest(http.MethodPut, s.url("/v1/kv/demo/"+k), strings.NewReader(v))
	resp, err := client.Do(req)
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", false, fmt.Errorf("PUT %s on site %d: %s: %s", k, s.id, resp.Status, bytes.TrimSpace(body))
	}
	var out struct {
		LSN       string `json:"lsn"`
		Permanent bool   `json:"permanent"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return "", false, err
	}
	return out.LSN, out.Permanent, nil
}

// putRetry writes to a site that has just become master, which may still
// be waiting out the old master's leases or finishing its sync.
func putRetry(s *site, k, v string, d time.Duration) (string, bool) {
	deadline := time.Now().Add(d)
	for {
		lsn, perm, err := tryPut(s, k, v)
		if err == nil {
			return lsn, perm
		}
		if time.Now().After(deadline) {
			panic(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(s *site, k string) (string, bool) {
	resp, err := client.Get(s.url("/v1/kv/demo/" + k))
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", false
	}
	return string(b), true
}
