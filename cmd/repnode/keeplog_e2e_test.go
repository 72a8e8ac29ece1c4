package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"logship/internal/testwait"
	"logship/wal/lsn"
)

// TestLaggingClientKeptWithinBudget: with --auto-remove-logs, frequent
// checkpoints and small log files, a client stopped while the master
// writes several log files' worth catches up from the master's log, not
// by internal init, while what it needs is within --log-keep-bytes; past
// the budget the master lets it go (status and metrics say so), removes
// its log, and it comes back by internal init.
func TestLaggingClientKeptWithinBudget(t *testing.T) {
	bin := buildBinary(t)
	for _, c := range []struct {
		name   string
		budget int64
		byLog  bool
	}{
		{"within budget", 4 << 20, true},
		{"past budget", 64 << 10, false}, // one log file; the client needs about four
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGroup(t, 2)
			dirM, dirC := t.TempDir(), t.TempDir()
			opts := []string{"--log-file-size", "65536", "--auto-remove-logs", "--checkpoint-interval", "100ms",
				"--log-keep-bytes", fmt.Sprint(c.budget)}
			m := startProc(t, bin, g.http[1], append(append(g.args(1, dirM), opts...), "--master", "--ack", "none")...)
			cl := startProc(t, bin, g.http[2], append(append(g.args(2, dirC), opts...), "--client")...)
			at := putKeys(t, m, "a", 5)
			testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "the master knows the client has every record", func() bool {
				st := status(t, m)
				return len(st.Sites) == 1 && st.Sites[0].LSN == at
			})
			acked, err := lsn.Parse(at)
			if err != nil {
				t.Fatal(err)
			}
			if err := cl.stop(t); err != nil {
				t.Fatalf("stop client: %v", err)
			}
			// 1200 records of ~220 bytes: four 64 KiB log files.
			last := putKeys(t, m, "b", 1200)
			if end, _ := lsn.Parse(last); end.File < acked.File+3 {
				t.Fatalf("the master's log grew from file %d to %d only", acked.File, end.File)
			}
			ckpts := metric(t, m, "logship_checkpoints_total")
			testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "two checkpoints after the writes", func() bool {
				return metric(t, m, "logship_checkpoints_total") >= ckpts+2
			})
			st := status(t, m)
			s := st.Sites[0]
			if st.LogKeepBytes != c.budget || st.LogKeepHeadroomBytes != c.budget-st.LogRetainedBytes {
				t.Errorf("status: log_keep_bytes %d, retained %d, headroom %d", st.LogKeepBytes, st.LogRetainedBytes, st.LogKeepHeadroomBytes)
			}
			first := firstLogFile(t, dirM)
			if c.byLog {
				if s.LogLetGo || s.LogKeptBytes == 0 || s.LogKeptBytes != s.LogNeededBytes || s.LogNeededBytes < 3*65536 || st.LogRetainedBytes < s.LogKeptBytes {
					t.Errorf("site 2 in status: %+v (retained %d); want its log kept", s, st.LogRetainedBytes)
				}
				if first > acked.File {
					t.Fatalf("the master removed log file %d the client needs (first is now %d)", acked.File, first)
				}
			} else {
				if !s.LogLetGo || s.LogKeptBytes != 0 || s.LogNeededBytes <= c.budget {
					t.Errorf("site 2 in status: %+v; want it let go", s)
				}
				if v := metric(t, m, "logship_log_keep_let_go_total"); v != 1 {
					t.Errorf("logship_log_keep_let_go_total = %v, want 1", v)
				}
				if v := metric(t, m, `logship_site_log_let_go{site="2"}`); v != 1 {
					t.Errorf(`logship_site_log_let_go{site="2"} = %v, want 1`, v)
				}
				testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "the master removed the log the client needs", func() bool {
					return firstLogFile(t, dirM) > acked.File
				})
			}

			cl = startProc(t, bin, g.http[2], append(append(g.args(2, dirC), opts...), "--client")...)
			if !hasKeys(t, cl, "b", 1200, last) {
				t.Fatalf("restarted client lacks the writes made while it was down\n%s", cl.log())
			}
			inits, served := metric(t, cl, "logship_inits_total"), metric(t, m, "logship_inits_served_total")
			if c.byLog && (inits != 0 || served != 0) {
				t.Errorf("the client caught up by internal init (client inits %v, master served %v), want by log", inits, served)
			}
			if !c.byLog && (metric(t, cl, "logship_inits_done_total") < 1 || served < 1) {
				t.Errorf("client inits %v, master served %v; want an internal init", inits, served)
			}
			if v := metric(t, cl, "logship_log_records_received_total"); v < 1200 && c.byLog {
				t.Errorf("the client received %v log records, want the 1200 it missed", v)
			}
		})
	}
}

// firstLogFile returns the number of the oldest log file in a site's
// directory.
func firstLogFile(t *testing.T, dir string) uint32 {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	var nums []uint32
	for _, e := range ents {
		if s, ok := strings.CutPrefix(e.Name(), "log."); ok {
			if n, err := strconv.ParseUint(s, 10, 32); err == nil {
				nums = append(nums, uint32(n))
			}
		}
	}
	if len(nums) == 0 {
		t.Fatalf("no log files in %s", dir)
	}
	return slices.Min(nums)
}
