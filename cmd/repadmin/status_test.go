package main

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"logship/cmd/internal/api"
)

func serveStatus(t *testing.T, code int, body any) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/status" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestStatusPrintsSiteAndGroupTable(t *testing.T) {
	node := serveStatus(t, http.StatusOK, api.Status{
		ID: 2, Role: "client", Master: 1, Gen: 3, LSN: "1/900", DurableLSN: "1/900", AppliedLSN: "1/850",
		SyncState: "ready",
		Sites: []api.Site{
			{ID: 1, Addr: "127.0.0.1:7001", Connected: true, LSN: "1/900"},
			{ID: 3, Addr: "127.0.0.1:7003", Connected: false, LagBytes: 4096},
		},
	})
	code, out, errs := runCmd("--node", node, "status")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{
		"site 2 at " + node + ": client, generation 3, master 1",
		"last record 1/900, durable 1/900, applied 1/850, sync ready",
		"SITE", "LAG BYTES",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if l := lineWith(out, "3 "); !strings.Contains(l, "no") || !strings.Contains(l, "4096") || !strings.Contains(l, "-") {
		t.Errorf("site 3 row %q", l)
	}

	code, out, _ = runCmd("--node", node, "status", "--json")
	var back api.Status
	if code != 0 || json.Unmarshal([]byte(out), &back) != nil || back.ID != 2 || len(back.Sites) != 2 {
		t.Fatalf("--json: exit %d %q", code, out)
	}
}

func TestStatusErrorsNameTheProblem(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	code, _, errs := runCmd("--node", dead, "status")
	if code != 1 || !strings.Contains(errs, "cannot reach repnode at "+dead) || !strings.Contains(errs, "--http") {
		t.Fatalf("unreachable: exit %d %q", code, errs)
	}
	node := serveStatus(t, http.StatusServiceUnavailable, api.ErrorBody{Error: "shutting down"})
	if code, _, errs := runCmd("--node", node, "status"); code != 1 || !strings.Contains(errs, "shutting down") {
		t.Fatalf("503: exit %d %q", code, errs)
	}
	if code, _, errs := runCmd("--node", node, "status", "extra"); code != 2 || !strings.Contains(errs, "usage:") {
		t.Fatalf("extra arg: exit %d %q", code, errs)
	}
}

// A master serving an internal init says how far it got, how fast, and
// how long is left.
func TestStatusShowsInitServed(t *testing.T) {
	node := serveStatus(t, http.StatusOK, api.Status{
		ID: 1, Role: "master", Master: 1, Gen: 2, LSN: "9/100", SyncState: "ready",
		Sites: []api.Site{
			{ID: 2, Addr: "127.0.0.1:7002", Connected: true},
			{ID: 3, Addr: "127.0.0.1:7003", Connected: true, InitSentBytes: 100 << 20, InitTotalBytes: 400 << 20,
				InitRate: 50 << 20, InitETASeconds: 6},
		},
	})
	code, out, errs := runCmd("--node", node, "status")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	l := lineWith(out, "site 3: internal init")
	for _, want := range []string{"100.0 MiB of 400.0 MiB sent", "50.0 MiB/s", "6s left"} {
		if !strings.Contains(l, want) {
			t.Errorf("init line %q lacks %q\n%s", l, want, out)
		}
	}
	if strings.Contains(out, "site 2: internal init") {
		t.Errorf("site 2, not in init, is shown in one:\n%s", out)
	}
}
