package main

// The resync mode's parsing and output: LSNs as /v1/status prints them,
// counters from /metrics, CPU time from /proc/PID/stat, and the lines the
// mode prints. Kept apart from resync.go so they are tested without
// processes.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// lsnPos is an LSN as /v1/status prints it, "file/offset". repbench
// speaks only the external interface, so it parses the text itself
// rather than importing wal/lsn.
type lsnPos struct{ file, off uint64 }

func parseLSN(s string) (lsnPos, error) {
	f, o, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return lsnPos{}, fmt.Errorf("LSN %q: want file/offset", s)
	}
	file, err := strconv.ParseUint(f, 10, 64)
	if err != nil {
		return lsnPos{}, fmt.Errorf("LSN %q: file: %w", s, err)
	}
	off, err := strconv.ParseUint(o, 10, 64)
	if err != nil {
		return lsnPos{}, fmt.Errorf("LSN %q: offset: %w", s, err)
	}
	return lsnPos{file, off}, nil
}

// atLeast reports whether a is at or past b.
func (a lsnPos) atLeast(b lsnPos) bool {
	if a.file != b.file {
		return a.file > b.file
	}
	return a.off >= b.off
}

func (a lsnPos) String() string { return fmt.Sprintf("%d/%d", a.file, a.off) }

// caughtUp is the end condition of a measurement: the client says it is
// synchronised (sync_state "ready") and has applied the master's last
// record.
func caughtUp(st status, target lsnPos) bool {
	if st.SyncState != "ready" {
		return false
	}
	a, err := parseLSN(st.AppliedLSN)
	return err == nil && a.atLeast(target)
}

// errNoMetric is a counter /metrics does not list.
var errNoMetric = errors.New("metric not found")

// metricValue returns the value of the unlabelled sample name in a
// Prometheus text exposition, or the sum over its labelled samples.
func metricValue(r io.Reader, name string) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var sum float64
	found := false
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		switch {
		case strings.HasPrefix(rest, " "):
		case strings.HasPrefix(rest, "{"):
			i := strings.LastIndex(rest, "}")
			if i < 0 {
				return 0, fmt.Errorf("metric %s: bad line %q", name, line)
			}
			rest = rest[i+1:]
		default:
			continue // another metric whose name starts with this one
		}
		f := strings.Fields(rest)
		if len(f) < 1 {
			return 0, fmt.Errorf("metric %s: no value in %q", name, line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("metric %s: %q: %w", name, line, err)
		}
		sum += v
		found = true
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("%w: %s", errNoMetric, name)
	}
	return sum, nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go runs on (the kernel fixes it for user space).
const clockTicks = 100

// parseProcStat returns the user+system CPU time of a /proc/PID/stat line.
// The command name (field 2) may hold spaces and parentheses, so the
// fields are counted from the last ')'.
func parseProcStat(b []byte) (time.Duration, error) {
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("proc stat %q: no ')'", truncate(b, 80))
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("proc stat: %d fields after the name, want at least 13", len(f))
	}
	var ticks uint64
	for _, x := range f[11:13] {
		v, err := strconv.ParseUint(x, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc stat: cpu time %q: %w", x, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// resyncResult is one measured re-sync of a client.
type resyncResult struct {
	kind      string // catchup | init
	start     string // fresh | lagged
	dialer    string // the site that opens the connection: master | client
	records   int
	valueSize int
	keySize   int
	elapsed   time.Duration // client process start to caught up
	logBytes  int64         // log bytes the client received (log_bytes_received_total)
	initBytes int64         // snapshot bytes the client received (init_bytes_received_total)
	initsDone int64         // the client's inits_done_total
	clientCPU time.Duration
	masterCPU time.Duration // over the same window
	loadTime  time.Duration // loading the master (not measured)
	dataFile  int64         // the master's data.db
	rawCopy   time.Duration // read+write+fsync of the master's data.db, 0 if not taken
	load      string        // load average when caught up
	phases    phases        // since the client's start
}

// logs is how the master's log stood: kept, or removed by an archive.
func (r *resyncResult) logs() string {
	if r.kind == "init" {
		return "removed"
	}
	return "kept"
}

func (r *resyncResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.records) / r.elapsed.Seconds()
}

// dataMBps is the user data (keys and values) made current per second.
func (r *resyncResult) dataMBps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.records) * float64(r.keySize+r.valueSize) / 1e6 / r.elapsed.Seconds()
}

// resultLine is the machine line. Its shape is the anchors' (RESULT
// <system> key=value ...): summarize.py groups runs by the keys it does not
// know as measurements (kind, start, logs, records, size) and reads rate;
// the other figures go on the RESYNC line.
func (r *resyncResult) resultLine() string {
	return fmt.Sprintf("RESULT logship-resync kind=%s start=%s logs=%s dialer=%s records=%d size=%d elapsed=%.3fs rate=%.0f/s",
		r.kind, r.start, r.logs(), r.dialer, r.records, r.valueSize, r.elapsed.Seconds(), r.rate())
}

// detailLine carries what summarize.py would mistake for variant keys.
func (r *resyncResult) detailLine() string {
	line := fmt.Sprintf("RESYNC logship kind=%s start=%s elapsed=%.3fs data_mb_s=%.1f log_bytes=%d init_bytes=%d inits_done=%d client_cpu=%.2fs master_cpu=%.2fs data_db=%d",
		r.kind, r.start, r.elapsed.Seconds(), r.dataMBps(), r.logBytes, r.initBytes, r.initsDone,
		r.clientCPU.Seconds(), r.masterCPU.Seconds(), r.dataFile)
	if r.rawCopy > 0 {
		line += fmt.Sprintf(" raw_copy_fsync=%.3fs init_over_raw=%.2f", r.rawCopy.Seconds(), r.elapsed.Seconds()/r.rawCopy.Seconds())
	}
	return line + fmt.Sprintf(" load=%q phases=%q", r.load, r.phases.String())
}

// human is the one-line summary of a trial.
func (r *resyncResult) human() string {
	s := fmt.Sprintf("%s %s (logs %s, %s dials): %d records in %.3fs = %.0f records/s, %.1f MB/s of data; client CPU %.2fs, master CPU %.2fs",
		r.kind, r.start, r.logs(), r.dialer, r.records, r.elapsed.Seconds(), r.rate(), r.dataMBps(), r.clientCPU.Seconds(), r.masterCPU.Seconds())
	if r.kind == "init" {
		s += fmt.Sprintf("; snapshot %.1f MB (%.1f MB/s), inits done %d", float64(r.initBytes)/1e6, mbps(r.initBytes, r.elapsed), r.initsDone)
	} else {
		s += fmt.Sprintf("; log received %.1f MB (%.1f MB/s), inits done %d", float64(r.logBytes)/1e6, mbps(r.logBytes, r.elapsed), r.initsDone)
	}
	if r.rawCopy > 0 {
		s += fmt.Sprintf("; raw copy+fsync of data.db (%.1f MB) %.3fs (%.1f MB/s), init/raw %.2fx",
			float64(r.dataFile)/1e6, r.rawCopy.Seconds(), mbps(r.dataFile, r.rawCopy), r.elapsed.Seconds()/r.rawCopy.Seconds())
	}
	return s + "; load " + r.load + "\n  phases since the client's start: " + r.phases.String()
}

func mbps(b int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(b) / 1e6 / d.Seconds()
}

// resyncSummary prints, per start (fresh, lagged), the median [min-max]
// of the elapsed time and the rate over the trials, and the raw copy
// ratio when there is one.
func resyncSummary(w io.Writer, rs []resyncResult) {
	var starts []string
	for _, r := range rs {
		if !slices.Contains(starts, r.start) {
			starts = append(starts, r.start)
		}
	}
	for _, st := range starts {
		var el, raw []time.Duration
		var kind string
		var records int
		for _, r := range rs {
			if r.start != st {
				continue
			}
			kind, records = r.kind, r.records
			el = append(el, r.elapsed)
			if r.rawCopy > 0 {
				raw = append(raw, r.rawCopy)
			}
		}
		med, lo, hi := median(el)
		rate := func(d time.Duration) float64 {
			if d <= 0 {
				return math.Inf(1)
			}
			return float64(records) / d.Seconds()
		}
		fmt.Fprintf(w, "summary %s %s: %d trials, %d records: median %.3fs [%.3f-%.3f] = %.0f records/s [%.0f-%.0f]",
			kind, st, len(el), records, med.Seconds(), lo.Seconds(), hi.Seconds(), rate(med), rate(hi), rate(lo))
		if len(raw) > 0 {
			rm, _, _ := median(raw)
			fmt.Fprintf(w, "; raw copy+fsync median %.3fs, init/raw %.2fx", rm.Seconds(), med.Seconds()/rm.Seconds())
		}
		fmt.Fprintln(w)
	}
}

// phases are the moments of a re-sync as the client's /v1/status shows
// them, since the client process started (0: not seen). They tell where
// the time goes: before the HTTP server answers (process start), before
// an init starts (finding the master, connecting, verify), the snapshot
// transfer, its install, and the log catch-up after it.
type phases struct {
	httpUp    time.Duration // first status answered
	synced    time.Duration // first sync_state other than "none" (a master found)
	applying  time.Duration // first applied_lsn past the one first seen: records arrive
	applied0  string        // the applied_lsn first seen
	initStart time.Duration // first sync_state "init"
	received  time.Duration // init_done reached init_total: every snapshot byte is in
	initEnd   time.Duration // first sync_state other than "init" after it
	ready     time.Duration // caught up
}

// observe records what one status, answered at `at`, shows.
func (p *phases) observe(st status, at time.Duration) {
	if p.httpUp == 0 {
		p.httpUp, p.applied0 = at, st.AppliedLSN
	}
	if p.applying == 0 && st.AppliedLSN != p.applied0 {
		p.applying = at
	}
	if p.synced == 0 && st.SyncState != "none" && st.SyncState != "" {
		p.synced = at
	}
	inInit := st.SyncState == "init"
	if p.initStart == 0 && inInit {
		p.initStart = at
	}
	if p.initStart != 0 && p.received == 0 && st.InitTotal > 0 && st.InitDone >= st.InitTotal {
		p.received = at
	}
	if p.initStart != 0 && p.initEnd == 0 && !inInit {
		p.initEnd = at
		if p.received == 0 {
			p.received = at // the poll missed the moment: the install was quick
		}
	}
}

// String lists the phases seen in the order they came, in ms since the
// client's process start.
func (p *phases) String() string {
	type phase struct {
		name string
		d    time.Duration
	}
	var seen []phase
	add := func(name string, d time.Duration) {
		if d > 0 {
			seen = append(seen, phase{name, d})
		}
	}
	add("http_up", p.httpUp)
	add("syncing", p.synced)
	add("applying", p.applying)
	add("init_start", p.initStart)
	add("snapshot_received", p.received)
	add("init_end", p.initEnd)
	add("ready", p.ready)
	slices.SortStableFunc(seen, func(a, b phase) int { return int(a.d - b.d) })
	parts := make([]string, len(seen))
	for i, ph := range seen {
		parts[i] = fmt.Sprintf("%s=%.0fms", ph.name, ms(ph.d))
	}
	return strings.Join(parts, " ")
}
