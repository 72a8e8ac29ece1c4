package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"logship/wal"
	"logship/wal/lsn"
)

// writeLog makes a site directory whose log/ holds n records spread over
// several small segment files, and returns the records' LSNs.
func writeLog(t *testing.T, n int) (string, []lsn.LSN) {
	t.Helper()
	site := t.TempDir()
	opts := wal.DefaultOptions()
	opts.SegmentSize = wal.MinSegmentSize
	l, err := wal.Open(filepath.Join(site, "log"), opts)
	if err != nil {
		t.Fatal(err)
	}
	var lsns []lsn.LSN
	for i := range n {
		at, err := l.Append(fmt.Appendf(nil, "record %03d %s", i, strings.Repeat("v", 100)))
		if err != nil {
			t.Fatal(err)
		}
		lsns = append(lsns, at)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return site, lsns
}

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestLogDumpListsEveryRecordWithItsLSN(t *testing.T) {
	site, lsns := writeLog(t, 100)
	if lsns[len(lsns)-1].File < 3 {
		t.Fatalf("want several segments, last LSN %v", lsns[len(lsns)-1])
	}
	code, out, errs := runCmd("log", "dump", "--dir", site)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for i, at := range lsns {
		want := fmt.Sprintf("record %03d", i)
		line := lineWith(out, at.String()+" ")
		if !strings.Contains(line, want) {
			t.Fatalf("dump line for %v = %q, want it to hold %q", at, line, want)
		}
	}
	code, out, _ = runCmd("log", "dump", "--dir", filepath.Join(site, "log"), "--limit", "3")
	if code != 0 || strings.Count(out, "record ") != 3 {
		t.Fatalf("--limit 3 on the log dir: exit %d\n%s", code, out)
	}
}

func lineWith(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

func TestLogVerifyPassesAGoodLog(t *testing.T) {
	site, lsns := writeLog(t, 50)
	code, out, errs := runCmd("log", "verify", "--dir", site)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "ok: 50 records") || !strings.Contains(out, "first "+lsns[0].String()) {
		t.Fatalf("verify output %q", out)
	}
}

func TestLogVerifyNamesTheFirstBadLSN(t *testing.T) {
	site, lsns := writeLog(t, 100)
	bad := lsns[40]
	path := filepath.Join(site, "log", fmt.Sprintf("log.%010d", bad.File))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[bad.Offset+wal.RecordHeaderSize+3] ^= 0x10 // a bit in the payload
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd("log", "verify", "--dir", site)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(errs, bad.String()) || !strings.Contains(out, "bad record at "+bad.String()) {
		t.Fatalf("output does not name %v:\nstdout %s\nstderr %s", bad, out, errs)
	}
	if code, _, _ := runCmd("log", "dump", "--dir", site); code != 1 {
		t.Fatalf("dump of a damaged log exit %d, want 1", code)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"frobnicate"},
		{"log"},
		{"log", "verify"},
		{"log", "dump", "--dir"},
		{"log", "verify", "--dir", "x", "extra"},
	} {
		if code, _, errs := runCmd(args...); code != 2 || !strings.Contains(errs, "usage:") {
			t.Errorf("%q: exit %d, stderr %q", args, code, errs)
		}
	}
	if code, _, errs := runCmd("log", "verify", "--dir", filepath.Join(t.TempDir(), "missing")); code != 1 || !strings.Contains(errs, "missing") {
		t.Errorf("missing dir: exit %d, %q", code, errs)
	}
}
