package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"logship/cmd/internal/api"
)

func masterStatus() api.Status {
	return api.Status{
		ID: 1, Role: "master", Master: 1, Gen: 2, LSN: "1/900", LastLSN: "1/800", DurableLSN: "1/800", AppliedLSN: "1/800",
		SyncState: "none",
		Sites: []api.Site{
			{ID: 2, Addr: "127.0.0.1:7002", Connected: true, LSN: "1/800", SentLSN: "1/800", FlushedLSN: "1/800", AppliedLSN: "1/800"},
			{ID: 3, Addr: "127.0.0.1:7003", Connected: false, LSN: "1/100", SentLSN: "1/400", FlushedLSN: "1/100",
				AppliedLSN: "1/50", LagBytes: 700, LagSeconds: 12.5, CatchUpETASeconds: -1},
		},
	}
}

func TestWatchPrintsSuccessiveTablesWhenNotATerminal(t *testing.T) {
	node := serveStatus(t, http.StatusOK, masterStatus())
	code, out, errs := runCmd("--node", node, "watch", "--count", "3", "--interval", "1ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if n := strings.Count(out, "SITE"); n != 3 {
		t.Fatalf("%d tables, want 3:\n%s", n, out)
	}
	if strings.Contains(out, "\x1b[") {
		t.Fatalf("escape sequences written to a non-terminal: %q", out)
	}
	row := lineWith(out, "3 ")
	for _, want := range []string{"1/400", "1/100", "1/50", "700", "12.5s", "stalled"} {
		if !strings.Contains(row, want) {
			t.Errorf("site 3 row %q lacks %q", row, want)
		}
	}
}

func TestWatchRedrawsInPlaceOnATerminal(t *testing.T) {
	node := serveStatus(t, http.StatusOK, masterStatus())
	var b bytes.Buffer
	if err := watch(context.Background(), node, time.Millisecond, 2, &b, true); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), ansiClearScreen); n != 2 {
		t.Fatalf("%d screen clears, want 2: %q", n, b.String())
	}
}

func TestWatchErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	if code, _, errs := runCmd("--node", dead, "watch", "--count", "1"); code != 1 || !strings.Contains(errs, "cannot reach repnode at "+dead) {
		t.Fatalf("unreachable: exit %d %q", code, errs)
	}
	for _, args := range [][]string{{"watch", "--interval", "0s"}, {"watch", "--count", "-1"}, {"watch", "now"}} {
		if code, _, errs := runCmd(append([]string{"--node", dead}, args...)...); code != 2 || !strings.Contains(errs, "usage:") {
			t.Errorf("%v: exit %d %q", args, code, errs)
		}
	}
}
