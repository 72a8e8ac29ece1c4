package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the CPU burner: with CPUACCT_ROLE set it
// plays a process of the tree and exits.
func TestMain(m *testing.M) {
	if role := os.Getenv("CPUACCT_ROLE"); role != "" {
		os.Exit(play(strings.Split(role, ":")))
	}
	os.Exit(m.Run())
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// burn spins until this process has used d of CPU, then writes its own CPU
// (all of it, start-up included) to file.
func burn(d time.Duration, file string) {
	x := 0
	for selfCPU() < d {
		for i := range 100000 {
			x += i
		}
	}
	_ = x
	os.WriteFile(file, []byte(strconv.FormatInt(int64(selfCPU()), 10)), 0o644)
}

func spawn(role string) *exec.Cmd { return spawnBin(os.Args[0], role) }

func spawnBin(bin, role string) *exec.Cmd {
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "CPUACCT_ROLE="+role)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	return cmd
}

func play(a []string) int {
	switch a[0] {
	case "burn": // burn:MS:FILE
		ms, _ := strconv.Atoi(a[1])
		burn(time.Duration(ms)*time.Millisecond, a[2])
	case "orphaner": // orphaner:DIR: leaves a burner behind, unreaped
		spawn("burn:300:" + filepath.Join(a[1], "orphan"))
	case "parent": // parent:DIR: a child it reaps, an orphaner, and itself
		c1 := spawn("burn:200:" + filepath.Join(a[1], "child"))
		c2 := spawn("orphaner:" + a[1])
		c1.Wait()
		c2.Wait()
		burn(100*time.Millisecond, filepath.Join(a[1], "parent"))
	case "winparent": // winparent:DIR:BIN: burns outside a window of BIN
		burn(150*time.Millisecond, filepath.Join(a[1], "before"))
		time.Sleep(300 * time.Millisecond)
		spawnBin(a[2], "burn:300:"+filepath.Join(a[1], "window")).Wait()
		time.Sleep(300 * time.Millisecond)
		t0 := selfCPU()
		burn(t0+150*time.Millisecond, filepath.Join(a[1], "after"))
	case "twowins": // twowins:DIR:BIN: two runs of BIN back to back
		time.Sleep(200 * time.Millisecond)
		spawnBin(a[2], "burn:300:"+filepath.Join(a[1], "w1")).Wait()
		spawnBin(a[2], "burn:200:"+filepath.Join(a[1], "w2")).Wait()
		time.Sleep(200 * time.Millisecond)
	}
	return 0
}

func readCPU(t *testing.T, dir string, names ...string) time.Duration {
	t.Helper()
	var sum time.Duration
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatalf("burner %s left no account: %v", n, err)
		}
		v, _ := strconv.ParseInt(string(b), 10, 64)
		sum += time.Duration(v)
	}
	return sum
}

// The total holds every process of the tree once: a child reaped by its
// parent, the parent, and an orphan whose parent exited first (reparented
// to cpuacct, the subreaper). Without the subreaper the orphan's 300 ms
// would be missed; counted twice, the total would be 300 ms over.
func TestTotalCountsEveryProcessOnce(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	c := config{label: "t", every: 50 * time.Millisecond, linger: 10 * time.Second, argv: []string{os.Args[0]}}
	os.Setenv("CPUACCT_ROLE", "parent:"+dir)
	res, err := account(c, &out)
	os.Unsetenv("CPUACCT_ROLE")
	if err != nil {
		t.Fatal(err)
	}
	if res.status != 0 || res.left != 0 {
		t.Fatalf("status %d, %d left", res.status, res.left)
	}
	want := readCPU(t, dir, "child", "orphan", "parent")
	// The orphaner's own few milliseconds are in the total and in no
	// file; process exits cost a little more.
	if res.total < want-20*time.Millisecond || res.total > want+100*time.Millisecond {
		t.Errorf("total %v, burners account for %v", res.total, want)
	}
}

// A window holds the named process's CPU and not the burns of its parent
// before and after it: that process is reaped by its parent, so its CPU
// reaches the end sample only through the parent's cutime.
func TestWindowIsTheNamedProcess(t *testing.T) {
	dir := t.TempDir()
	win := filepath.Join(t.TempDir(), "winburn")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(win, b, 0o755); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c := config{label: "t", window: "winburn", only: []string{"winburn"}, every: 20 * time.Millisecond, linger: 10 * time.Second, argv: []string{os.Args[0]}}
	os.Setenv("CPUACCT_ROLE", "winparent:"+dir+":"+win)
	res, err := account(c, &out)
	os.Unsetenv("CPUACCT_ROLE")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.windows) != 1 {
		t.Fatalf("windows %v, want one; output %q", res.windows, out.String())
	}
	want := readCPU(t, dir, "window")
	if got := res.windows[0]; got < want-30*time.Millisecond || got > want+40*time.Millisecond {
		t.Errorf("window %v, the named process used %v (output %q)", got, want, out.String())
	}
	// --only counts it as of its last sample, which misses what it burnt
	// in the interval before its exit (20 ms, longer on a loaded machine).
	if res.onlyProcs != 1 || res.only < want-60*time.Millisecond || res.only > want+10*time.Millisecond {
		t.Errorf("only: %v over %d processes, the named process used %v", res.only, res.onlyProcs, want)
	}
	if !strings.Contains(out.String(), "CPU label=t window=winburn#1 cpu=") {
		t.Errorf("window line: %q", out.String())
	}
	// "after" holds all of the parent's CPU, "before" included.
	if all := readCPU(t, dir, "window", "after"); res.total < all-20*time.Millisecond {
		t.Errorf("total %v < burners' %v", res.total, all)
	}
}

// Two processes of the name one right after the other, closer than a
// sample interval (pgbench after pgbench in run_pg.sh), get a window each.
func TestBackToBackWindows(t *testing.T) {
	dir := t.TempDir()
	win := filepath.Join(t.TempDir(), "winburn")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(win, b, 0o755); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c := config{label: "t", window: "winburn", every: 50 * time.Millisecond, linger: 10 * time.Second, argv: []string{os.Args[0]}}
	os.Setenv("CPUACCT_ROLE", "twowins:"+dir+":"+win)
	res, err := account(c, &out)
	os.Unsetenv("CPUACCT_ROLE")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.windows) != 2 {
		t.Fatalf("windows %v, want two; output %q", res.windows, out.String())
	}
	for i, f := range []string{"w1", "w2"} {
		// The second window opens on the sample taken at the first's
		// exit, so it may hold the few milliseconds between.
		want := readCPU(t, dir, f)
		if got := res.windows[i]; got < want-30*time.Millisecond || got > want+40*time.Millisecond {
			t.Errorf("window %d: %v, the process used %v (output %q)", i+1, got, want, out.String())
		}
	}
}

func TestParseStat(t *testing.T) {
	st, err := parseStat([]byte("42 (a (b) c) S 7 1 1 0 -1 4194560 100 0 0 0 250 75 10 5 20 0 1 0 1 1 1"))
	if err != nil {
		t.Fatal(err)
	}
	if st.pid != 42 || st.ppid != 7 || st.comm != "a (b) c" || st.own != 325 || st.reaped != 15 {
		t.Errorf("%+v", st)
	}
	if _, err := parseStat([]byte("garbage")); err == nil {
		t.Error("garbage parsed")
	}
}

func TestRunExitStatusAndLine(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--label", "x", "--", "sh", "-c", "exit 3"}, &out, &errb); code != 3 {
		t.Errorf("exit %d, want the command's 3 (%s)", code, errb.String())
	}
	if !strings.HasPrefix(out.String(), "CPU label=x total cpu=") {
		t.Errorf("line %q", out.String())
	}
	if code := run(nil, &out, &errb); code != 2 {
		t.Errorf("no command: exit %d", code)
	}
}
