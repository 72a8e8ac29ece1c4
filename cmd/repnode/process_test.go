package main

// End-to-end tests with real repnode processes on loopback.

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"logship/cmd/internal/api"
	"logship/internal/testwait"
	"logship/wal/lsn"
)

func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs repnode processes")
	}
	bin := filepath.Join(t.TempDir(), "repnode")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address nobody listens on right now.
//
// The port comes from below the kernel's ephemeral range: a port the
// kernel handed out for "port 0" is the kind it also gives to outgoing
// connections, and the sites' own dials could take it before the site
// that should listen there starts.
//
// A port is handed out at most once per test binary: a test picks all its
// addresses before it starts any site, so a port free at the second pick
// may be the one the first pick returned (CI once gave one port as one
// site's HTTP address and another's replication address).
func freeAddr(t *testing.T) string {
	t.Helper()
	handedMu.Lock()
	defer handedMu.Unlock()
	for range 1000 {
		port := 10000 + rand.IntN(ephemeralLow()-10000)
		if handed[port] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken
		}
		ln.Close()
		handed[port] = true
		return ln.Addr().String()
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}

var (
	handedMu sync.Mutex
	handed   = map[int]bool{} // ports freeAddr returned
)

// ephemeralLow is the first port of the kernel's ephemeral range (32768
// if it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	var lo int
	if err != nil || func() bool { _, err := fmt.Sscan(string(b), &lo); return err != nil }() || lo <= 10100 {
		return 32768
	}
	return lo
}

type proc struct {
	cmd    *exec.Cmd
	http   string
	stderr string // path of its stderr
	done   chan error
}

// startProc starts repnode and waits (bounded) until /v1/status answers.
// Cleanup stops it with SIGTERM, then SIGKILL.
func startProc(t *testing.T, bin, httpAddr string, args ...string) *proc {
	t.Helper()
	p := &proc{http: httpAddr, stderr: filepath.Join(t.TempDir(), "stderr"), done: make(chan error, 1)}
	f, err := os.Create(p.stderr)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, append([]string{"--http", httpAddr}, args...)...)
	p.cmd.Stderr = f
	p.cmd.Stdout = f
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.stop(t)
		p.keepLog(t)
		if t.Failed() {
			// The last lines of each site's log say what it was doing.
			l := p.log()
			if len(l) > 6000 {
				l = "...\n" + l[len(l)-6000:]
			}
			t.Logf("repnode --http %s log:\n%s", httpAddr, l)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("repnode exited at start-up: %v\n%s", err, p.log())
		default:
		}
		resp, err := (&http.Client{Timeout: time.Second}).Get("http://" + httpAddr + "/v1/status")
		if err == nil {
			resp.Body.Close()
			// 401: up, behind --auth-tokens.
			if resp.StatusCode == 200 || resp.StatusCode == http.StatusUnauthorized {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("repnode on %s not up after 15s\n%s", httpAddr, p.log())
		}
		time.Sleep(50 * time.Millisecond) // a real process gives no event for "up": poll
	}
}

// running fails the test if p has exited, saying how.
func (p *proc) running(t *testing.T) {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		t.Fatalf("repnode --http %s exited unexpectedly: %v (ProcessState %v)", p.http, err, p.cmd.ProcessState)
	default:
	}
}

// keepLogs: where every site's log is copied when its test ends, for
// reading the logs of a run that passed (a soak's slow turns, say).
var keepLogs = flag.String("e2e.logs", "", "directory to copy every repnode log into as its test ends")

// keepLog copies p's log into -e2e.logs, named for the test and the
// site's HTTP address.
func (p *proc) keepLog(t *testing.T) {
	if *keepLogs == "" {
		return
	}
	name := strings.NewReplacer("/", "_", ":", "_").Replace(t.Name() + "-" + p.http + "-" + time.Now().Format("150405.000"))
	err := os.MkdirAll(*keepLogs, 0o755)
	if err == nil {
		err = os.WriteFile(filepath.Join(*keepLogs, name+".log"), []byte(p.log()), 0o644)
	}
	if err != nil {
		t.Logf("-e2e.logs: %v", err)
	}
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.stderr)
	return string(b)
}

// stop sends SIGTERM and waits up to 10 s for a clean exit, then kills.
// It returns the exit error (nil after a clean shutdown).
func (p *proc) stop(t *testing.T) error {
	select {
	case err := <-p.done: // already exited
		p.done <- err
		return err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		err := <-p.done
		p.done <- err
		t.Errorf("repnode did not stop on SIGTERM within 10s\n%s", p.log())
		return err
	}
}

func TestTwoSites(t *testing.T) {
	bin := buildBinary(t)
	rep1, rep2 := freeAddr(t), freeAddr(t)
	http1, http2 := freeAddr(t), freeAddr(t)
	m := startProc(t, bin, http1, "--dir", t.TempDir(), "--id", "1", "--listen", rep1,
		"--peers", "2="+rep2, "--master", "--ack", "one", "--log-format", "json")
	c := startProc(t, bin, http2, "--dir", t.TempDir(), "--id", "2", "--listen", rep2,
		"--peers", "1="+rep1, "--client")
	mURL, cURL := "http://"+m.http, "http://"+c.http

	// A write on the master.
	code, body, _ := do(t, "PUT", mURL+"/v1/kv/orders/42", "shipped")
	if code != 200 {
		t.Fatalf("PUT on master: %d %s", code, body)
	}
	w := decode[api.WriteResult](t, body)
	if _, err := lsn.Parse(w.LSN); err != nil {
		t.Fatalf("PUT lsn %q: %v", w.LSN, err)
	}

	// A write on the client: 503 naming the master.
	code, body, _ = do(t, "PUT", cURL+"/v1/kv/orders/43", "nope")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("PUT on client: %d %s, want 503", code, body)
	}
	e := decode[api.ErrorBody](t, body)
	if e.Master != 1 || e.MasterAddr != rep1 || e.Error == "" {
		t.Fatalf("PUT on client answered %s: want master 1 at %s", body, rep1)
	}
	if code, body, _ := do(t, "DELETE", cURL+"/v1/kv/orders/42", ""); code != http.StatusServiceUnavailable {
		t.Fatalf("DELETE on client: %d %s, want 503", code, body)
	}

	// Read-your-writes on the client with the master's LSN.
	code, body, _ = do(t, "GET", cURL+"/v1/kv/orders/42?min_lsn="+w.LSN, "")
	if code != 200 || string(body) != "shipped" {
		t.Fatalf("GET on client with min_lsn=%s: %d %q\nclient log:\n%s", w.LSN, code, body, c.log())
	}

	// Status on both sides.
	code, body, _ = do(t, "GET", cURL+"/v1/status", "")
	cs := decode[api.Status](t, body)
	if code != 200 || cs.Role != "client" || cs.Master != 1 || cs.ID != 2 || len(cs.Sites) != 1 || cs.Sites[0].ID != 1 {
		t.Fatalf("client status: %d %s", code, body)
	}
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "master sees site 2 connected and caught up", func() bool {
		_, body, _ := do(t, "GET", mURL+"/v1/status", "")
		ms := decode[api.Status](t, body)
		return ms.Role == "master" && len(ms.Sites) == 1 && ms.Sites[0].ID == 2 && ms.Sites[0].Connected &&
			ms.Sites[0].LSN == ms.LastLSN && ms.Sites[0].LagBytes == 0 &&
			ms.Sites[0].SentLSN == ms.LastLSN && ms.Sites[0].FlushedLSN == ms.LastLSN &&
			ms.Sites[0].AppliedLSN == ms.LastLSN && ms.Sites[0].LagSeconds == 0 && ms.Sites[0].CatchUpETASeconds == 0
	})

	// Metrics on the master name the client.
	_, body, _ = do(t, "GET", mURL+"/metrics", "")
	for _, want := range []string{`logship_site_lag_bytes{site="2"} 0`, `logship_site_connected{site="2"} 1`, "logship_commits_total 1"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("master /metrics lacks %s", want)
		}
	}

	// SIGTERM: both exit cleanly.
	if err := c.stop(t); err != nil {
		t.Errorf("client exit: %v\n%s", err, c.log())
	}
	if err := m.stop(t); err != nil {
		t.Errorf("master exit: %v\n%s", err, m.log())
	}
	if !strings.Contains(m.log(), `"msg":"shutting down"`) {
		t.Errorf("master log (JSON) lacks the shutdown line:\n%s", m.log())
	}
}

// TestExitStatus: a bad command line exits 2 naming the flag; a start
// that cannot proceed exits non-zero with a clear message.
func TestExitStatus(t *testing.T) {
	bin := buildBinary(t)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--id", "x"}, 2, "-id"},
		{[]string{"--dir", t.TempDir(), "--id", "1", "--listen", "127.0.0.1:1", "--http", "127.0.0.1:2", "--ack", "most"}, 2, "--ack"},
		{[]string{"--dir", t.TempDir(), "--id", "1", "--listen", "127.0.0.1:1", "--http", "127.0.0.1:2", "--peers", "2=127.0.0.1:3", "--peer", "3", "--client"}, 2, "--peer: site 3 is not in --peers"},
		{[]string{"--dir", t.TempDir(), "--id", "1", "--listen", freeAddr(t), "--http", freeAddr(t), "--peers", "2=" + freeAddr(t), "--witness-peers", "5"}, 2, "--witness-peers: site 5 is not in --peers"},
		{[]string{"--dir", t.TempDir(), "--id", "1", "--listen", freeAddr(t), "--http", freeAddr(t), "--peers", "2=" + freeAddr(t), "--witness", "--client"}, 2, "--witness: a witness holds no data"},
		{[]string{"--dir", t.TempDir(), "--id", "1", "--listen", freeAddr(t), "--http", freeAddr(t), "--peers", "2=" + freeAddr(t), "--leases", "--master"}, 2, "--leases: master leases need elections"},
	}
	for _, tc := range cases {
		cmd := exec.Command(bin, tc.args...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
			t.Errorf("repnode %v: %v, want exit %d\n%s", tc.args, err, tc.code, out)
			continue
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("repnode %v: output lacks %q:\n%s", tc.args, tc.want, out)
		}
	}
}

// writePermanent writes n keys prefix0.. (value = key) on master and
// returns those answered permanent; it fails the test if none was.
func writePermanent(t *testing.T, master *proc, prefix string, n int) []string {
	t.Helper()
	var perm []string
	for i := range n {
		key := fmt.Sprintf("%s%d", prefix, i)
		code, body, _ := do(t, "PUT", "http://"+master.http+"/v1/kv/b/"+key, key)
		if code != 200 {
			t.Fatalf("PUT %s on the master: %d %s", key, code, body)
		}
		if decode[api.WriteResult](t, body).Permanent {
			perm = append(perm, key)
		}
	}
	if len(perm) == 0 {
		t.Fatal("no write answered permanent with every site up")
	}
	return perm
}

// TestElectionFailover: three sites started without --master/--client
// elect a master; after SIGKILL of the master the others elect a new one,
// which accepts writes and holds every write answered permanent.
func TestElectionFailover(t *testing.T) {
	bin := buildBinary(t)
	reps := map[int]string{1: freeAddr(t), 2: freeAddr(t), 3: freeAddr(t)}
	procs := map[int]*proc{}
	for id := 1; id <= 3; id++ {
		var peers []string
		for j := 1; j <= 3; j++ {
			if j != id {
				peers = append(peers, fmt.Sprintf("%d=%s", j, reps[j]))
			}
		}
		procs[id] = startProc(t, bin, freeAddr(t), "--dir", t.TempDir(), "--id", fmt.Sprint(id),
			"--listen", reps[id], "--peers", strings.Join(peers, ","))
	}
	masterOf := func(ids ...int) (int, bool) {
		found := 0
		for _, id := range ids {
			_, body, _ := do(t, "GET", "http://"+procs[id].http+"/v1/status", "")
			st := decode[api.Status](t, body)
			if st.Role == "master" && st.Election != nil && st.Election.CanWrite {
				if found != 0 {
					return 0, false
				}
				found = id
			}
		}
		return found, found != 0
	}
	var m int
	testwait.Poll(t, 15*time.Second, 50*time.Millisecond, "one master elected", func() bool { var ok bool; m, ok = masterOf(1, 2, 3); return ok })

	perm := writePermanent(t, procs[m], "k", 20)

	if err := procs[m].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	procs[m].done <- <-procs[m].done
	var rest []int
	for id := 1; id <= 3; id++ {
		if id != m {
			rest = append(rest, id)
		}
	}
	var nm int
	testwait.Poll(t, 15*time.Second, 50*time.Millisecond, "a new master after SIGKILL", func() bool { var ok bool; nm, ok = masterOf(rest...); return ok })
	_, mbody, _ := do(t, "GET", "http://"+procs[nm].http+"/metrics", "")
	for _, want := range []string{"logship_election_generation", "logship_can_write 1", `logship_role{role="master"} 1`} {
		if !strings.Contains(string(mbody), want) {
			t.Errorf("new master /metrics lacks %s", want)
		}
	}
	var code int
	var body []byte
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "the new master accepts a write", func() bool {
		code, body, _ = do(t, "PUT", "http://"+procs[nm].http+"/v1/kv/b/after", "x")
		return code == 200
	})
	w := decode[api.WriteResult](t, body)
	for _, key := range perm {
		code, body, _ := do(t, "GET", "http://"+procs[nm].http+"/v1/kv/b/"+key+"?min_lsn="+w.LSN, "")
		if code != 200 || string(body) != key {
			t.Fatalf("permanent key %s on new master %d: %d %q", key, nm, code, body)
		}
	}
}
