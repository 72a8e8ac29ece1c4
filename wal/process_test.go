package wal

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"logship/wal/lsn"
	"logship/wal/vfs"
)

// The crash test runs this test binary again as a child process that
// appends and syncs until it is killed.
const (
	childDirEnv = "WAL_CRASH_CHILD_DIR"
	childRunEnv = "WAL_CRASH_CHILD_RUN"
)

// childPayload is the payload writer w of run `run` appends as its seq-th
// record.
func childPayload(run, w, seq int) []byte {
	return fmt.Appendf(nil, "run %d writer %d seq %d %s", run, w, seq, strings.Repeat("x", (seq*13)%200))
}

// TestHelperProcess is the child of TestCrashProcess; it does nothing in
// a normal test run. Four writers AppendSync in a loop, and each prints
// "LSN run writer seq" after its Sync has returned.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(childDirEnv)
	if dir == "" {
		t.Skip("only runs as the child of TestCrashProcess")
	}
	var run int
	fmt.Sscan(os.Getenv(childRunEnv), &run)
	l, err := Open(dir, Options{SegmentSize: 64 << 10, Logger: quiet})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for seq := 0; ; seq++ {
				at, err := l.AppendSync(childPayload(run, w, seq))
				if err != nil {
					fmt.Fprintln(os.Stderr, "child:", err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "%s %d %d %d\n", at, run, w, seq)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// TestCrashProcess kills a child process that appends and syncs, with
// SIGKILL at random moments, and checks after each kill that every record
// the child reported synced is in the log, intact and in order.
func TestCrashProcess(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip("no executable:", err)
	}
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	type acked struct {
		at          lsn.LSN
		run, w, seq int
	}
	var all []acked
	kills := 8
	if testing.Short() {
		kills = 3
	}
	for run := range kills {
		cmd := exec.Command(exe, "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), childDirEnv+"="+dir, fmt.Sprintf("%s=%d", childRunEnv, run))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		lines := make(chan []string)
		go func() {
			b, _ := io.ReadAll(out)
			got := strings.Split(string(b), "\n")
			// The last piece is empty or a line the kill cut short,
			// which could parse as a wrong but well-formed line.
			lines <- got[:len(got)-1]
		}()
		// Let the child get going, then kill it mid-stride.
		time.Sleep(time.Duration(20+rng.IntN(180)) * time.Millisecond)
		cmd.Process.Kill()
		got := <-lines
		cmd.Wait()
		if strings.Contains(stderr.String(), "child:") {
			t.Fatalf("run %d: child failed: %s", run, stderr.String())
		}
		for _, line := range got {
			var a acked
			var s string
			if _, err := fmt.Sscan(line, &s, &a.run, &a.w, &a.seq); err != nil {
				t.Fatalf("run %d: bad line from the child: %q", run, line)
			}
			if a.at, err = lsn.Parse(s); err != nil {
				t.Fatalf("run %d: bad LSN from the child: %q", run, line)
			}
			all = append(all, a)
		}

		l, err := Open(dir, Options{SegmentSize: 64 << 10, Logger: quiet})
		if err != nil {
			t.Fatalf("run %d: Open after kill: %v", run, err)
		}
		last := map[[2]int]lsn.LSN{}
		for _, a := range all {
			rec, err := l.Read(a.at)
			if err != nil || string(rec.Payload) != string(childPayload(a.run, a.w, a.seq)) {
				t.Fatalf("run %d: synced record %s (run %d writer %d seq %d): %q, %v", run, a.at, a.run, a.w, a.seq, rec.Payload, err)
			}
			k := [2]int{a.run, a.w}
			if !last[k].Less(a.at) {
				t.Fatalf("run %d: writer %d's records out of order: %s then %s", a.run, a.w, last[k], a.at)
			}
			last[k] = a.at
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(vfs.OS, dir, nil); err != nil {
			t.Fatalf("run %d: Verify after recovery: %v", run, err)
		}
		t.Logf("run %d: %d records reported synced", run, len(got))
	}
	if len(all) == 0 {
		t.Fatal("the child never reported a synced record")
	}
}
