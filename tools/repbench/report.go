package main

// Output: the human summary and the machine line. The machine line follows
// the anchors' harnesses (../shared/bench: "RESULT <system> key=value ...")
// so that their summarize.py groups our runs by variant and reads rate,
// p50 and p99: it takes every key=value except the measured ones (commits,
// elapsed, rate, p50, p99, max, n, perm_failed, errors, ...) as the
// variant, and reads latencies as numbers in microseconds ("p50=812.3us"),
// like the anchors print them.

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// loadResult is one load run.
type loadResult struct {
	variant    string
	ack        string
	sites      int
	writers    int
	size       int
	pipeline   int
	h          hist
	elapsed    time.Duration
	permFailed uint64
	errors     uint64
	lastErr    error
	maxLag     int64
	lagSamples int
	loadBefore string
	loadAfter  string
	cpu        cpuUse
}

func (r *loadResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.h.Count()) / r.elapsed.Seconds()
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// resultLine is the machine line, without a newline.
func (r *loadResult) resultLine() string {
	return fmt.Sprintf("RESULT logship variant=%s ack=%s sites=%d writers=%d size=%d n=%d elapsed=%.2fs rate=%.0f/s p50=%.1fus p99=%.1fus max=%.1fus perm_failed=%d errors=%d",
		r.variant, r.ack, r.sites, r.writers, r.size, r.h.Count(), r.elapsed.Seconds(), r.rate(),
		us(r.h.Quantile(0.50)), us(r.h.Quantile(0.99)), us(r.h.Max()), r.permFailed, r.errors)
}

// report prints the human summary, then the machine line.
func (r *loadResult) report(w io.Writer) {
	fmt.Fprintf(w, "logship %s: %d sites, ack %s, %d writers, %d-byte values\n", r.variant, r.sites, r.ack, r.writers, r.size)
	fmt.Fprintf(w, "  commits           %d in %.2fs = %.0f/s\n", r.h.Count(), r.elapsed.Seconds(), r.rate())
	fmt.Fprintf(w, "  commit latency    p50 %.3f ms   p99 %.3f ms   max %.3f ms   mean %.3f ms\n",
		ms(r.h.Quantile(0.50)), ms(r.h.Quantile(0.99)), ms(r.h.Max()), ms(r.h.Mean()))
	fmt.Fprintf(w, "  permanent=false   %d\n", r.permFailed)
	if r.errors > 0 {
		fmt.Fprintf(w, "  failed requests   %d (last: %v)\n", r.errors, r.lastErr)
	}
	if r.lagSamples > 0 {
		fmt.Fprintf(w, "  replication lag   max %d bytes over the clients (%d samples of the master's /v1/status)\n", r.maxLag, r.lagSamples)
	} else {
		fmt.Fprintf(w, "  replication lag   not sampled\n")
	}
	if r.cpu.measured {
		fmt.Fprintf(w, "  CPU               %.1f ms per 1,000 commits (sites %.2fs + repbench %.2fs over the window)\n",
			r.cpu.perThousand(r.h.Count()), r.cpu.sites.Seconds(), r.cpu.bench.Seconds())
		if r.cpu.err != nil {
			fmt.Fprintf(w, "  CPU               incomplete: %v\n", r.cpu.err)
		}
	}
	fmt.Fprintf(w, "  load average      before %s, after %s\n", r.loadBefore, r.loadAfter)
	fmt.Fprintln(w, r.resultLine())
	// Kept off the RESULT line: summarize.py would take it for part of the
	// variant.
	fmt.Fprintf(w, "LAG logship variant=%s writers=%d max_lag_bytes=%d samples=%d load=%q\n", r.variant, r.writers, r.maxLag, r.lagSamples, r.loadAfter)
	if r.cpu.measured && r.cpu.err == nil {
		fmt.Fprintln(w, cpuLine(r.variant, r.writers, r.h.Count(), r.cpu))
	}
}

// cpuLine is the machine line of the CPU per commit, beside the RESULT
// line (summarize.py would take its keys for part of the variant).
func cpuLine(variant string, writers int, commits uint64, u cpuUse) string {
	return fmt.Sprintf("CPU logship variant=%s writers=%d commits=%d cpu_s=%.3f sites_cpu_s=%.3f bench_cpu_s=%.3f cpu_ms_per_1k=%.1f",
		variant, writers, commits, u.total().Seconds(), u.sites.Seconds(), u.bench.Seconds(), u.perThousand(commits))
}

// loadAvg returns the first three fields of /proc/loadavg, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// median returns the median of ds (the mean of the middle two for an even
// count) and the minimum and maximum.
func median(ds []time.Duration) (med, lo, hi time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		med = s[n/2]
	} else {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[0], s[n-1]
}

// failoverLine is the machine line of a failover series, shaped like the
// raft harness's "RESULT raft-elect fast=... trials=... min= median= max=".
func failoverLine(tight, freeze bool, sites int, write, elected []time.Duration) string {
	med, lo, hi := median(write)
	emed, _, _ := median(elected)
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	signal := "kill"
	if freeze {
		signal = "stop"
	}
	return fmt.Sprintf("RESULT logship-failover tight=%v signal=%s sites=%d trials=%d min=%s median=%s max=%s elected_median=%s",
		tight, signal, sites, len(write), r(lo), r(med), r(hi), r(emed))
}
