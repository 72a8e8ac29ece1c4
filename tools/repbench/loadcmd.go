package main

// --load-cmd: an independent load generator (redis-benchmark) against the
// spawned group's master. repbench starts the group, waits for the master,
// runs the command with the master's address filled in, and measures it
// whole: the sites' CPU from just before its start to its exit, plus the
// command's own CPU (its rusage, children included), over the commits the
// master's /metrics counted meanwhile (logship_commits_total). The rate
// and latencies come from the command's output when it is redis-benchmark
// --csv; the CPU line is printed either way.

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// expandLoadCmd splits the command into words and fills in {host}, {port}
// (of target, host:port) and {http} (the master's HTTP address).
func expandLoadCmd(cmd, target, httpAddr string) ([]string, error) {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return nil, fmt.Errorf("--load-cmd: master address %q: %w", target, err)
	}
	r := strings.NewReplacer("{host}", host, "{port}", port, "{http}", httpAddr)
	argv := strings.Fields(r.Replace(cmd))
	if len(argv) == 0 {
		return nil, errors.New("--load-cmd: empty command")
	}
	return argv, nil
}

// benchCSV is what redis-benchmark --csv says about one test.
type benchCSV struct {
	test          string
	rps, p50, p99 float64 // requests/s; latencies in ms
}

// parseBenchCSV reads redis-benchmark --csv output: a header line naming
// the columns ("test","rps","avg_latency_ms",...,"p50_latency_ms",
// "p99_latency_ms",...) and one line per test. Columns are found by name.
func parseBenchCSV(b []byte) ([]benchCSV, error) {
	rd := csv.NewReader(bytes.NewReader(b))
	rd.FieldsPerRecord = -1
	recs, err := rd.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("redis-benchmark csv: %w", err)
	}
	col := map[string]int{}
	var out []benchCSV
	for _, r := range recs {
		if len(r) > 0 && r[0] == "test" {
			for i, name := range r {
				col[name] = i
			}
			continue
		}
		if len(col) == 0 {
			continue
		}
		get := func(name string) (float64, error) {
			i, ok := col[name]
			if !ok || i >= len(r) {
				return 0, fmt.Errorf("redis-benchmark csv: no column %q", name)
			}
			return strconv.ParseFloat(r[i], 64)
		}
		var row benchCSV
		row.test = r[0]
		var errs []error
		var e1, e2, e3 error
		row.rps, e1 = get("rps")
		row.p50, e2 = get("p50_latency_ms")
		row.p99, e3 = get("p99_latency_ms")
		errs = append(errs, e1, e2, e3)
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	if len(out) == 0 {
		return nil, errors.New("redis-benchmark csv: no result line")
	}
	return out, nil
}

// masterCounter reads a counter of the master's /metrics.
func masterCounter(ctx context.Context, c *http.Client, httpAddr, name string) (uint64, error) {
	text, err := getText(ctx, c, "http://"+httpAddr+"/metrics")
	if err != nil {
		return 0, err
	}
	v, err := metricValue(strings.NewReader(text), name)
	return uint64(v), err
}

func runLoadCmd(ctx context.Context, o options, lc loadConfig, g *group, c *http.Client, httpAddr, target string, out io.Writer) error {
	argv, err := expandLoadCmd(o.loadCmd, target, httpAddr)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "master: %s; load: %s\n", lc.master, strings.Join(argv, " "))
	commits0, err := masterCounter(ctx, c, httpAddr, "logship_commits_total")
	if err != nil {
		return fmt.Errorf("master's commit count: %w", err)
	}
	perms0, _ := masterCounter(ctx, c, httpAddr, "logship_perms_total")
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout = io.MultiWriter(out, &stdout)
	cmd.Stderr = out
	cmd.SysProcAttr = childAttr()
	load0 := loadAvg()
	cpu0 := lc.cpu.sample()
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("--load-cmd: %w", err)
	}
	werr := cmd.Wait()
	wall := time.Since(t0)
	cpu1 := lc.cpu.sample()
	if werr != nil {
		return fmt.Errorf("--load-cmd %s: %w", argv[0], werr)
	}
	use := cpu1.minus(cpu0)
	// repbench only waited meanwhile; the load generator is the command.
	use.bench = 0
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		use.bench = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	commits1, err := masterCounter(ctx, c, httpAddr, "logship_commits_total")
	if err != nil {
		return fmt.Errorf("master's commit count: %w", err)
	}
	perms1, _ := masterCounter(ctx, c, httpAddr, "logship_perms_total")
	commits := commits1 - commits0
	fmt.Fprintf(out, "logship %s: %d commits on the master (%d permanent) in %.2fs; CPU %.2fs sites + %.2fs %s = %.1f ms per 1,000 commits; load average before %s, after %s\n",
		lc.variant, commits, perms1-perms0, wall.Seconds(), use.sites.Seconds(), use.bench.Seconds(), argv[0], use.perThousand(commits), load0, loadAvg())
	if use.err != nil {
		return use.err
	}
	if rows, err := parseBenchCSV(stdout.Bytes()); err == nil {
		for _, r := range rows {
			fmt.Fprintf(out, "RESULT logship variant=%s ack=%s sites=%d writers=%d size=%d n=%d elapsed=%.2fs rate=%.0f/s p50=%.1fus p99=%.1fus perm_failed=%d errors=0\n",
				lc.variant, lc.ack, lc.sites, o.writers, o.valueSize, commits, wall.Seconds(), r.rps, r.p50*1000, r.p99*1000, commits-(perms1-perms0))
		}
	} else {
		fmt.Fprintf(out, "repbench: no RESULT line: %v\n", err)
	}
	fmt.Fprintln(out, cpuLine(lc.variant, o.writers, commits, use))
	return nil
}
