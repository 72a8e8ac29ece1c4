package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// buildRepnode builds cmd/repnode into a temporary directory.
func buildRepnode(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds repnode and runs a group of processes")
	}
	bin := filepath.Join(t.TempDir(), "repnode")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/repnode").CombinedOutput(); err != nil {
		t.Fatalf("go build repnode: %v\n%s", err, out)
	}
	return bin
}

// children returns the pids of this process's live children.
func children(t *testing.T) []int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
			out = append(out, pid)
		}
	}
	return out
}

// A short embedded run: the master in this process, two repnode clients;
// the writes commit, permanent under quorum acks, and the CPU per commit
// covers both this process and the clients. Every process is stopped.
func TestEmbeddedRun(t *testing.T) {
	bin := buildRepnode(t)
	var out, errb bytes.Buffer
	code := run([]string{"--spawn", "3", "--repnode", bin, "--embedded", "--writers", "2",
		"--warmup", "200ms", "--duration", "1s", "--lag-every", "50ms"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	o := out.String()
	if !strings.Contains(o, "site 1 in this process") {
		t.Errorf("the master is not the in-process site:\n%s", o)
	}
	res := regexp.MustCompile(`RESULT logship variant=spawn3-embedded ack=quorum sites=3 writers=2 size=128 n=(\d+) .* perm_failed=(\d+) errors=(\d+)`).FindStringSubmatch(o)
	if res == nil {
		t.Fatalf("no RESULT line:\n%s", o)
	}
	if n, _ := strconv.Atoi(res[1]); n == 0 || res[2] != "0" || res[3] != "0" {
		t.Errorf("n=%s perm_failed=%s errors=%s, want commits, all permanent", res[1], res[2], res[3])
	}
	cpu := regexp.MustCompile(`CPU logship variant=spawn3-embedded writers=2 commits=(\d+) cpu_s=\S+ sites_cpu_s=(\S+) bench_cpu_s=(\S+) cpu_ms_per_1k=(\S+)`).FindStringSubmatch(o)
	if cpu == nil {
		t.Fatalf("no CPU line:\n%s", o)
	}
	if cpu[1] != res[1] {
		t.Errorf("CPU line counts %s commits, RESULT %s", cpu[1], res[1])
	}
	for _, v := range cpu[2:] {
		if f, _ := strconv.ParseFloat(v, 64); f <= 0 {
			t.Errorf("CPU line %q: a zero figure", cpu[0])
		}
	}
	if left := children(t); len(left) > 0 {
		t.Errorf("processes left running: %v", left)
	}
}
