package env

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"logship/wal/lsn"
)

const crashEnv = "LOGSHIP_ENV_CRASH_DIR"

// crashConfig has small log files so that the crashes hit rollovers too.
func crashConfig() Config {
	c := DefaultConfig()
	c.LogFileSize = 128 << 10
	c.MaxValueSize = 4 << 10
	c.ApplyDelay = 2 * time.Millisecond
	c.Logger = discardLogger()
	return c
}

// TestCrashChild is the child process of TestCrash; it does nothing in a
// normal run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("child of TestCrash only")
	}
	run := os.Getenv(crashEnv + "_RUN")
	e, err := Open(dir, crashConfig())
	if err != nil {
		fmt.Fprintf(os.Stdout, "open error: %v\n", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // if the parent is gone
	defer cancel()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			filler := bytes.Repeat([]byte{'f'}, 100+g*50)
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("r%s-g%d-%d", run, g, i)
				var n int
				tok, err := e.Update(ctx, func(tx *Tx) error {
					v, err := tx.Get("ctr", []byte("n"))
					if err != nil {
						return err
					}
					if v != nil {
						if n, err = strconv.Atoi(string(v)); err != nil {
							return err
						}
					}
					n++
					if err := tx.Put("ctr", []byte("n"), []byte(strconv.Itoa(n))); err != nil {
						return err
					}
					if err := tx.Put("k", []byte(key), []byte(strconv.Itoa(n))); err != nil {
						return err
					}
					// A per-goroutine scratch key, rewritten and deleted, so
					// records carry deletes and before-images too.
					scratch := fmt.Appendf(nil, "g%d", g)
					if i%3 == 2 {
						return tx.Delete("scratch", scratch)
					}
					return tx.Put("scratch", scratch, filler)
				})
				if err != nil {
					if ctx.Err() == nil {
						fmt.Fprintf(os.Stdout, "update error: %v\n", err)
					}
					return
				}
				// One write per line: a line is whole or absent.
				os.Stdout.WriteString(fmt.Sprintf("ack %s %s %d\n", key, tok.LSN, n))
			}
		}()
	}
	wg.Wait()
	_ = e.Close()
}

// TestCrash kills a child doing concurrent Updates with SIGKILL at random
// moments and checks, after each crash: every acknowledged Update is
// present; no transaction is partly visible; and the data equals a replay
// of the whole log.
func TestCrash(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("in the child")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	acked := map[string]int{} // key -> counter value
	rounds := 6
	if testing.Short() {
		rounds = 3
	}
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(exe, "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir, crashEnv+"_RUN="+strconv.Itoa(round))
		var out bytes.Buffer
		cmd.Stdout = &out
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		// A real child process: let it write for a random while, then kill it.
		time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()

		lines := strings.Split(out.String(), "\n")
		lines = lines[:len(lines)-1] // the last is partial or empty
		n := 0
		for _, l := range lines {
			f := strings.Fields(l)
			if len(f) != 4 || f[0] != "ack" {
				if strings.Contains(l, "error") {
					t.Fatalf("child: %s", l)
				}
				continue
			}
			if _, err := lsn.Parse(f[2]); err != nil {
				t.Fatalf("bad ack line %q", l)
			}
			c, _ := strconv.Atoi(f[3])
			acked[f[1]] = c
			n++
		}
		checkCrashState(t, dir, acked, round, n)
	}
}

func checkCrashState(t *testing.T, dir string, acked map[string]int, round, newAcks int) {
	t.Helper()
	e, err := Open(dir, crashConfig())
	if err != nil {
		t.Fatalf("round %d: reopen: %v", round, err)
	}
	defer e.Close()
	data, applied := dump(t, e)
	// Every acknowledged commit is there, with its value.
	for k, c := range acked {
		if v, ok := data["k"][k]; !ok || v != strconv.Itoa(c) {
			t.Fatalf("round %d: acknowledged %s=%d lost (found %q, %v)", round, k, c, v, ok)
		}
	}
	// Atomicity: the counter and the unique keys move together, so the
	// key values are exactly 1..counter.
	n := 0
	if v, ok := data["ctr"]["n"]; ok {
		n, _ = strconv.Atoi(v)
	}
	if len(data["k"]) != n {
		t.Fatalf("round %d: counter %d but %d keys: a transaction is partly visible", round, n, len(data["k"]))
	}
	seen := make([]bool, n+1)
	for k, v := range data["k"] {
		c, err := strconv.Atoi(v)
		if err != nil || c < 1 || c > n || seen[c] {
			t.Fatalf("round %d: key %s has value %q (counter %d)", round, k, v, n)
		}
		seen[c] = true
	}
	// The data equals a replay of the whole log from its first record.
	if want := replayLog(t, e.log, lsn.Zero); !equalData(data, want) {
		t.Fatalf("round %d: data (applied %s) differs from the log replay: %s", round, applied, diffData(data, want))
	}
	t.Logf("round %d: %d new acks, %d commits in total, applied %s", round, newAcks, n, applied)
}
