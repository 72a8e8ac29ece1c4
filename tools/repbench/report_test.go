package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// summarizeKey mirrors ../shared/bench/summarize.py: the variant of a
// RESULT line is its second word plus every key=value that is not a
// measurement.
func summarizeKey(line string) (key string, kv map[string]string) {
	measured := map[string]bool{"commits": true, "elapsed": true, "rate": true, "p50": true, "p99": true,
		"max": true, "n": true, "perm_failed": true, "deadlock_retries": true, "tps": true, "errors": true, "bytes": true}
	toks := strings.Fields(line)
	kv = map[string]string{}
	parts := []string{toks[1]}
	for _, t := range toks[2:] {
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			continue
		}
		kv[k] = v
		if !measured[k] {
			parts = append(parts, t)
		}
	}
	return strings.Join(parts, " "), kv
}

// num mirrors summarize.py's num(): the leading number of a value.
func num(s string) float64 {
	m := regexp.MustCompile(`^[0-9.]+`).FindString(s)
	f, _ := strconv.ParseFloat(m, 64)
	return f
}

func sampleResult(lat time.Duration, n int, permFailed uint64) *loadResult {
	r := &loadResult{variant: "spawn3", ack: "quorum", sites: 3, writers: 16, size: 128, elapsed: 10 * time.Second, permFailed: permFailed}
	for range n {
		r.h.Record(lat)
	}
	return r
}

func TestResultLineGroupsAndParsesLikeSummarize(t *testing.T) {
	a := sampleResult(800*time.Microsecond, 50000, 0).resultLine()
	b := sampleResult(2*time.Millisecond, 30000, 7).resultLine()
	if !strings.HasPrefix(a, "RESULT logship ") {
		t.Fatalf("line %q does not start with RESULT logship", a)
	}
	ka, kva := summarizeKey(a)
	kb, _ := summarizeKey(b)
	if ka != kb {
		t.Fatalf("two runs of one variant group apart:\n %s\n %s", ka, kb)
	}
	if want := "logship variant=spawn3 ack=quorum sites=3 writers=16 size=128"; ka != want {
		t.Errorf("variant key %q, want %q", ka, want)
	}
	if got := num(kva["rate"]); got != 5000 {
		t.Errorf("rate %v, want 5000", got)
	}
	if got := num(kva["p50"]); got < 790 || got > 810 || !strings.HasSuffix(kva["p50"], "us") {
		t.Errorf("p50 %q, want about 800us", kva["p50"])
	}
	if got := num(kva["p99"]); got < 790 || got > 810 {
		t.Errorf("p99 %q, want about 800us", kva["p99"])
	}
	if kva["perm_failed"] != "0" || kva["errors"] != "0" {
		t.Errorf("perm_failed %q errors %q", kva["perm_failed"], kva["errors"])
	}
}

func TestMedian(t *testing.T) {
	ms := time.Millisecond
	med, lo, hi := median([]time.Duration{5 * ms, 1 * ms, 3 * ms, 9 * ms, 2 * ms})
	if med != 3*ms || lo != ms || hi != 9*ms {
		t.Errorf("median of 5 = %v [%v-%v]", med, lo, hi)
	}
	if med, _, _ := median([]time.Duration{4 * ms, 2 * ms}); med != 3*ms {
		t.Errorf("median of 2 = %v, want 3ms", med)
	}
	if med, lo, hi := median(nil); med != 0 || lo != 0 || hi != 0 {
		t.Error("median of none should be zeros")
	}
}

func TestFailoverLine(t *testing.T) {
	ms := time.Millisecond
	got := failoverLine(true, false, 3, []time.Duration{300 * ms, 250 * ms, 400 * ms}, []time.Duration{200 * ms, 210 * ms, 190 * ms})
	want := "RESULT logship-failover tight=true signal=kill sites=3 trials=3 min=250ms median=300ms max=400ms elected_median=200ms"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
