package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseLSNAndOrder(t *testing.T) {
	a, err := parseLSN("3/4096")
	if err != nil || a != (lsnPos{3, 4096}) {
		t.Fatalf("parseLSN(3/4096) = %v, %v", a, err)
	}
	for _, bad := range []string{"", "3", "3/", "/4", "x/1", "1/-2", "1/2/3"} {
		if _, err := parseLSN(bad); err == nil {
			t.Errorf("parseLSN(%q) accepted", bad)
		}
	}
	cases := []struct {
		a, b lsnPos
		want bool
	}{
		{lsnPos{3, 10}, lsnPos{3, 10}, true},
		{lsnPos{3, 11}, lsnPos{3, 10}, true},
		{lsnPos{3, 9}, lsnPos{3, 10}, false},
		{lsnPos{4, 0}, lsnPos{3, 1 << 40}, true}, // a later file wins whatever the offset
		{lsnPos{2, 1 << 40}, lsnPos{3, 0}, false},
	}
	for _, c := range cases {
		if got := c.a.atLeast(c.b); got != c.want {
			t.Errorf("%v.atLeast(%v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestCaughtUpNeedsReadyAndTheTarget(t *testing.T) {
	target := lsnPos{5, 100}
	cases := []struct {
		st   status
		want bool
	}{
		{status{SyncState: "ready", AppliedLSN: "5/100"}, true},
		{status{SyncState: "ready", AppliedLSN: "6/0"}, true},
		{status{SyncState: "ready", AppliedLSN: "5/99"}, false},    // ready with the old master's tail: not yet
		{status{SyncState: "catchup", AppliedLSN: "5/100"}, false}, // applied but still syncing
		{status{SyncState: "init", AppliedLSN: "0/0"}, false},
		{status{SyncState: "ready", AppliedLSN: ""}, false},
	}
	for _, c := range cases {
		if got := caughtUp(c.st, target); got != c.want {
			t.Errorf("caughtUp(%+v) = %v, want %v", c.st, got, c.want)
		}
	}
}

const sampleMetrics = `# HELP logship_inits_done_total Internal initializations completed.
# TYPE logship_inits_done_total counter
logship_inits_done_total 1
logship_inits_done_totalish 7
logship_init_bytes_received_total 3.3554432e+07
logship_site_init_bytes{site="1",state="sent"} 10
logship_site_init_bytes{site="2",state="sent"} 5
`

func TestMetricValue(t *testing.T) {
	for name, want := range map[string]float64{
		"logship_inits_done_total":          1, // not confused with the longer name below it
		"logship_init_bytes_received_total": 33554432,
		"logship_site_init_bytes":           15, // labelled samples add up
	} {
		got, err := metricValue(strings.NewReader(sampleMetrics), name)
		if err != nil || got != want {
			t.Errorf("metricValue(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
	if _, err := metricValue(strings.NewReader(sampleMetrics), "logship_inits"); !errors.Is(err, errNoMetric) {
		t.Errorf("a prefix of a metric's name found something: %v", err)
	}
	if _, err := metricValue(strings.NewReader("logship_x abc\n"), "logship_x"); err == nil {
		t.Error("a non-numeric value was accepted")
	}
}

func TestParseProcStat(t *testing.T) {
	// A command name with a space and a ')' must not shift the fields.
	line := "4242 (rep node) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 12 0 100 1000000 500 18446744073709551615\n"
	d, err := parseProcStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := 3250 * time.Millisecond; d != want {
		t.Errorf("cpu %v, want %v (250+75 ticks at 100 Hz)", d, want)
	}
	if _, err := parseProcStat([]byte("4242 (repnode) S 1 2")); err == nil {
		t.Error("a short stat line was accepted")
	}
	if _, err := parseProcStat([]byte("no paren")); err == nil {
		t.Error("a line without the command name was accepted")
	}
	// The running test's own line parses.
	if b, err := os.ReadFile("/proc/self/stat"); err == nil {
		if _, err := parseProcStat(b); err != nil {
			t.Errorf("/proc/self/stat: %v", err)
		}
	}
}

func TestResyncLinesGroupLikeSummarize(t *testing.T) {
	mk := func(el time.Duration, start string) resyncResult {
		return resyncResult{kind: "catchup", start: start, dialer: "master", records: 200000, valueSize: 128, keySize: 8, elapsed: el,
			clientCPU: 2 * time.Second, masterCPU: time.Second, load: "1.00 2.00 3.00"}
	}
	a, b := mk(2*time.Second, "lagged"), mk(4*time.Second, "lagged")
	ka, kva := summarizeKey(a.resultLine())
	kb, _ := summarizeKey(b.resultLine())
	if ka != kb {
		t.Fatalf("two runs of one variant group apart:\n %s\n %s", ka, kb)
	}
	if want := "logship-resync kind=catchup start=lagged logs=kept dialer=master records=200000 size=128"; ka != want {
		t.Errorf("variant %q, want %q", ka, want)
	}
	if got := num(kva["rate"]); got != 100000 {
		t.Errorf("rate %v, want 100000 records/s", got)
	}
	f := mk(time.Second, "fresh")
	if kf, _ := summarizeKey(f.resultLine()); kf == ka {
		t.Error("fresh and lagged group together")
	}
	if got := a.dataMBps(); got < 13.59 || got > 13.61 {
		t.Errorf("data MB/s %v, want 13.6 (200000 x 136 B in 2 s)", got)
	}
	if strings.HasPrefix(a.detailLine(), "RESULT") {
		t.Error("the detail line would be read by summarize.py")
	}
}

func TestResyncSummaryMediansAndRawRatio(t *testing.T) {
	var rs []resyncResult
	for _, el := range []time.Duration{3 * time.Second, time.Second, 2 * time.Second} {
		rs = append(rs, resyncResult{kind: "init", start: "fresh", records: 1000, elapsed: el, rawCopy: time.Second})
	}
	rs = append(rs, resyncResult{kind: "init", start: "lagged", records: 1000, elapsed: 4 * time.Second, rawCopy: 2 * time.Second})
	var buf bytes.Buffer
	resyncSummary(&buf, rs)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want a line per start, got:\n%s", buf.String())
	}
	for _, want := range []string{"init fresh: 3 trials", "median 2.000s [1.000-3.000]", "= 500 records/s [333-1000]", "init/raw 2.00x"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("fresh line lacks %q:\n%s", want, lines[0])
		}
	}
	if !strings.Contains(lines[1], "init lagged: 1 trials") || !strings.Contains(lines[1], "init/raw 2.00x") {
		t.Errorf("lagged line: %s", lines[1])
	}
}

func TestResyncFlags(t *testing.T) {
	parse := func(args ...string) (options, error) {
		var o options
		fs := newFlags("run", &o, &bytes.Buffer{})
		if err := fs.Parse(args); err != nil {
			return o, err
		}
		return o, o.validate("run")
	}
	o, err := parse("--resync", "init", "--data-bytes", "1073741824", "--value-size", "262144")
	if err != nil {
		t.Fatal(err)
	}
	cfg := o.resyncConfig()
	if cfg.records != 4096 || cfg.logFileSize != defaultInitLogFileSize || len(cfg.starts) != 2 || cfg.runs != 3 {
		t.Errorf("config %+v: want 4096 records, %d-byte log files, both starts, 3 runs", cfg, defaultInitLogFileSize)
	}
	if o, _ := parse("--resync", "catchup", "--data-bytes", "1000", "--value-size", "300"); o.recordCount() != 4 {
		t.Errorf("1000 bytes of 300-byte values: %d records, want 4 (rounded up)", o.recordCount())
	}
	if o, _ := parse("--resync", "catchup"); o.resyncConfig().logFileSize != 0 || o.resyncConfig().records != 200000 {
		t.Errorf("catchup defaults: %+v", o.resyncConfig())
	}
	for _, bad := range [][]string{
		{"--resync", "copy"},
		{"--resync", "init", "--spawn", "3"},
		{"--resync", "init", "--starts", "warm"},
		{"--resync", "init", "--starts", ","},
		{"--resync", "init", "--records", "0"},
		{"--resync", "init", "--runs", "0"},
		{"--resync", "init", "--log-file-size", "0"},
		{"--resync", "init", "--data-bytes", "10", "--value-size", "0"},
	} {
		if _, err := parse(bad...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestRawCopyCopiesAndRemoves(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	if err := os.WriteFile(src, bytes.Repeat([]byte("x"), 3<<20+5), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := rawCopy(src, dst)
	if err != nil || d <= 0 {
		t.Fatalf("rawCopy: %v, %v", d, err)
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Errorf("the copy was left behind: %v", err)
	}
	if _, err := rawCopy(filepath.Join(dir, "missing"), dst); err == nil {
		t.Error("copying a missing file succeeded")
	}
}

func TestPhasesOfAnInit(t *testing.T) {
	var p phases
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, s := range []struct {
		at int
		st status
	}{
		{40, status{SyncState: "none", AppliedLSN: "1/20"}},
		{50, status{SyncState: "catchup", AppliedLSN: "1/20"}},
		{1600, status{SyncState: "init", InitTotal: 100, AppliedLSN: "1/20"}},
		{2000, status{SyncState: "init", InitDone: 50, InitTotal: 100, AppliedLSN: "1/20"}},
		{9000, status{SyncState: "init", InitDone: 100, InitTotal: 100, AppliedLSN: "1/20"}},
		{9010, status{SyncState: "init", InitDone: 100, InitTotal: 100, AppliedLSN: "1/20"}}, // a later sample moves nothing
		{15000, status{SyncState: "catchup", AppliedLSN: "9/0"}},
		{15010, status{SyncState: "init", AppliedLSN: "9/5"}}, // a second init: the first one's times stay
	} {
		p.observe(s.st, ms(s.at))
	}
	want := phases{httpUp: ms(40), synced: ms(50), applying: ms(15000), applied0: "1/20", initStart: ms(1600), received: ms(9000), initEnd: ms(15000)}
	if p != want {
		t.Errorf("phases %+v, want %+v", p, want)
	}
	p.ready = ms(15100)
	if got, want := p.String(), "http_up=40ms syncing=50ms init_start=1600ms snapshot_received=9000ms applying=15000ms init_end=15000ms ready=15100ms"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}

	// A catch-up by log has no init phases; a quick install the poll did
	// not see still ends the transfer.
	var c phases
	c.observe(status{SyncState: "catchup", AppliedLSN: "3/100"}, ms(30))
	c.observe(status{SyncState: "catchup", AppliedLSN: "3/100"}, ms(500))
	c.observe(status{SyncState: "catchup", AppliedLSN: "4/0"}, ms(600))
	c.observe(status{SyncState: "ready", AppliedLSN: "9/0"}, ms(900))
	if c.initStart != 0 || c.received != 0 || c.initEnd != 0 || c.synced != ms(30) || c.applying != ms(600) {
		t.Errorf("catch-up phases %+v", c)
	}
	var q phases
	q.observe(status{SyncState: "init"}, ms(10))
	q.observe(status{SyncState: "catchup"}, ms(20))
	if q.received != ms(20) || q.initEnd != ms(20) {
		t.Errorf("quick init phases %+v", q)
	}
}
