package main

import (
	"io"
	"strings"
	"testing"
)

func TestParseBenchCSV(t *testing.T) {
	// redis-benchmark 7.0 -t set --csv, as printed.
	in := "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n" +
		"\"SET\",\"3958.83\",\"3.855\",\"0.832\",\"3.119\",\"7.735\",\"14.279\",\"50.495\"\n"
	rows, err := parseBenchCSV([]byte("WARNING: Could not fetch server CONFIG\n" + in))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].test != "SET" || rows[0].rps != 3958.83 || rows[0].p50 != 3.119 || rows[0].p99 != 14.279 {
		t.Errorf("%+v", rows)
	}
	if _, err := parseBenchCSV([]byte("SET: 3958.83 requests per second\n")); err == nil {
		t.Error("non-CSV output parsed")
	}
}

func TestExpandLoadCmd(t *testing.T) {
	argv, err := expandLoadCmd("redis-benchmark -h {host} -p {port} -x {http}", "127.0.0.1:6400", "127.0.0.1:8001")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(argv, " "); got != "redis-benchmark -h 127.0.0.1 -p 6400 -x 127.0.0.1:8001" {
		t.Errorf("%q", got)
	}
}

func TestProtoFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"--spawn", "3", "--proto", "resp", "--pipeline", "8"}, true},
		{[]string{"--spawn", "3", "--pipeline", "8"}, false},
		{[]string{"--spawn", "3", "--proto", "udp"}, false},
		{[]string{"--spawn", "3", "--embedded"}, true},
		{[]string{"--nodes", "a:1", "--embedded"}, false},
		{[]string{"--spawn", "3", "--embedded", "--proto", "resp"}, false},
		{[]string{"--nodes", "a:1,b:2", "--proto", "resp"}, false},
		{[]string{"--nodes", "a:1,b:2", "--proto", "resp", "--resp-nodes", "a:3,b:4"}, true},
		{[]string{"--nodes", "a:1,b:2", "--proto", "resp", "--resp-nodes", "a:3"}, false},
		{[]string{"--nodes", "a:1", "--load-cmd", "x"}, false},
	} {
		var o options
		fs := newFlags("run", &o, io.Discard)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if err := o.validate("run"); (err == nil) != tc.ok {
			t.Errorf("%v: %v", tc.args, err)
		}
	}
}
