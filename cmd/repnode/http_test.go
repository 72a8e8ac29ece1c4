package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"logship/cmd/internal/api"
	"logship/env"
	"logship/wal/lsn"
)

// startSingle runs a one-site group in-process: a real environment started
// as master over a TCP transport with no peers, behind an httptest server.
func startSingle(t testing.TB, mutate func(*Config)) (*node, *httptest.Server) {
	t.Helper()
	n, _, _ := openSingle(t, mutate)
	srv := httptest.NewServer(n.routes())
	t.Cleanup(func() {
		srv.Close()
		if err := n.close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return n, srv
}

// openSingle opens the node of a one-site group in-process, started as
// master, with mutate applied to its configuration; the caller serves
// and closes it.
func openSingle(t testing.TB, mutate func(*Config)) (*node, Config, *slog.Logger) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Dir = t.TempDir()
	cfg.ID = 1
	cfg.Listen = "127.0.0.1:0"
	cfg.HTTP = "127.0.0.1:0"
	cfg.Master = true
	cfg.ReadTimeout = 2 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := openNode(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	return n, cfg, log
}

// do sends one request, bounded in time, and returns status and body.
func do(t *testing.T, method, url, body string) (int, []byte, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func TestKVPutGetDelete(t *testing.T) {
	_, srv := startSingle(t, nil)
	code, body, _ := do(t, "PUT", srv.URL+"/v1/kv/users/alice", "v1")
	if code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	w := decode[map[string]any](t, body)
	ls, ok := w["lsn"].(string)
	if !ok {
		t.Fatalf("PUT answer %s: lsn not a string", body)
	}
	at, err := lsn.Parse(ls)
	if err != nil || at.IsZero() {
		t.Fatalf("PUT lsn %q: %v", ls, err)
	}
	if perm, ok := w["permanent"].(bool); !ok || !perm {
		t.Fatalf("PUT answer %s: want permanent true on a single site", body)
	}

	code, body, hdr := do(t, "GET", srv.URL+"/v1/kv/users/alice?min_lsn="+ls, "")
	if code != 200 || string(body) != "v1" {
		t.Fatalf("GET min_lsn=%s: %d %q", ls, code, body)
	}
	if got, err := lsn.Parse(hdr.Get("X-Applied-LSN")); err != nil || got.Less(at) {
		t.Fatalf("X-Applied-LSN %q, want >= %s", hdr.Get("X-Applied-LSN"), at)
	}

	// Keys may hold slashes.
	if code, body, _ := do(t, "PUT", srv.URL+"/v1/kv/users/a/b/c", "deep"); code != 200 {
		t.Fatalf("PUT a/b/c: %d %s", code, body)
	}

	code, body, _ = do(t, "DELETE", srv.URL+"/v1/kv/users/alice", "")
	if code != 200 {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	d := decode[api.WriteResult](t, body)
	if l, _ := lsn.Parse(d.LSN); !at.Less(l) {
		t.Fatalf("DELETE lsn %s not after PUT's %s", d.LSN, at)
	}
	if code, body, _ := do(t, "GET", srv.URL+"/v1/kv/users/alice?min_lsn="+d.LSN, ""); code != 404 {
		t.Fatalf("GET after DELETE: %d %s, want 404", code, body)
	}
	if code, _, _ := do(t, "GET", srv.URL+"/v1/kv/users/alice?min_lsn=garbage", ""); code != 400 {
		t.Fatalf("bad min_lsn: %d, want 400", code)
	}
	// An LSN far in the future is not applied: the wait ends (ReadTimeout).
	start := time.Now()
	if code, body, _ := do(t, "GET", srv.URL+"/v1/kv/users/alice?min_lsn=99/0", ""); code != http.StatusGatewayTimeout {
		t.Fatalf("future min_lsn: %d %s, want 504", code, body)
	}
	if time.Since(start) > 8*time.Second {
		t.Fatalf("future min_lsn waited %v", time.Since(start))
	}
}

func TestStatusFields(t *testing.T) {
	_, srv := startSingle(t, nil)
	do(t, "PUT", srv.URL+"/v1/kv/b/k", "v")
	code, body, _ := do(t, "GET", srv.URL+"/v1/status", "")
	if code != 200 {
		t.Fatalf("status: %d %s", code, body)
	}
	m := decode[map[string]any](t, body)
	for _, f := range []string{"id", "gen", "master"} {
		if _, ok := m[f].(float64); !ok {
			t.Errorf("status %s: %q not a number", body, f)
		}
	}
	for _, f := range []string{"role", "lsn", "applied_lsn", "sync_state"} {
		if _, ok := m[f].(string); !ok {
			t.Errorf("status %s: %q not a string", body, f)
		}
	}
	if _, ok := m["sites"].([]any); !ok {
		t.Errorf("status %s: sites not an array", body)
	}
	if m["role"] != "master" || m["id"] != 1.0 || m["master"] != 1.0 {
		t.Errorf("status %s: want role master, id 1, master 1", body)
	}
	if l, err := lsn.Parse(m["lsn"].(string)); err != nil || l.IsZero() {
		t.Errorf("status lsn %v: want a record", m["lsn"])
	}
}

func TestAdminEndpoints(t *testing.T) {
	_, srv := startSingle(t, func(c *Config) { c.LogFileSize = 64 << 10 })
	val := strings.Repeat("x", 4000)
	for i := 0; i < 60; i++ { // several log files
		if code, body, _ := do(t, "PUT", srv.URL+"/v1/kv/b/k", val); code != 200 {
			t.Fatalf("PUT: %d %s", code, body)
		}
	}
	code, body, _ := do(t, "POST", srv.URL+"/v1/admin/archive", "")
	if code != 200 {
		t.Fatalf("archive: %d %s", code, body)
	}
	a := decode[map[string]any](t, body)
	if _, ok := a["checkpoint_lsn"].(string); !ok {
		t.Fatalf("archive answer %s: no checkpoint_lsn", body)
	}
	if r, ok := a["removed"].([]any); !ok || len(r) == 0 {
		t.Fatalf("archive answer %s: want log files removed", body)
	}
	if code, body, _ := do(t, "GET", srv.URL+"/v1/kv/b/k", ""); code != 200 || string(body) != val {
		t.Fatalf("GET after archive: %d", code)
	}
	// Elections are off on a --master site: 409 saying so.
	if code, body, _ := do(t, "POST", srv.URL+"/v1/admin/elect", ""); code != http.StatusConflict || !strings.Contains(string(body), "elections are off") {
		t.Fatalf("elect: %d %s", code, body)
	}
	if code, body, _ := do(t, "POST", srv.URL+"/v1/admin/transfer", `{"to":9}`); code != http.StatusBadRequest {
		t.Fatalf("transfer to a non-peer: %d %s, want 400", code, body)
	}
	// Sync on a master is refused (409); delayed sync may be set on any
	// site: it applies when the site next follows a new master.
	if code, body, _ := do(t, "POST", srv.URL+"/v1/admin/sync", ""); code != http.StatusConflict {
		t.Fatalf("sync: %d %s", code, body)
	}
	if code, body, _ := do(t, "POST", srv.URL+"/v1/admin/sync", `{"delay":true}`); code != http.StatusOK {
		t.Fatalf("sync delay: %d %s", code, body)
	}
	if code, body, _ := do(t, "POST", srv.URL+"/v1/admin/sync", `{bad`); code != http.StatusBadRequest {
		t.Fatalf("sync bad body: %d %s", code, body)
	}
	// A master rolls nothing back: allow-rollback is refused (409).
	if code, body, _ := do(t, "POST", srv.URL+"/v1/admin/allow-rollback", ""); code != http.StatusConflict || !strings.Contains(string(body), "not a client") {
		t.Fatalf("allow-rollback on a master: %d %s", code, body)
	}
}

func TestMetrics(t *testing.T) {
	_, srv := startSingle(t, nil)
	do(t, "PUT", srv.URL+"/v1/kv/b/k", "v")
	code, body, _ := do(t, "GET", srv.URL+"/metrics", "")
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	for _, name := range []string{
		"logship_lsn{which=\"end\"}", "logship_lsn{which=\"applied\"}", "logship_role{role=\"master\"} 1",
		"logship_generation", "logship_commits_total 1", "logship_perm_failed_total", "logship_perms_total",
		"logship_log_requests_total", "logship_rerequests_total", "logship_inits_total",
		"logship_commit_duration_seconds_bucket", "logship_commit_duration_seconds_count{op=\"put\",permanent=\"true\"} 1",
		"logship_up 1", "logship_transport_inbound_refused_total",
	} {
		if !strings.Contains(string(body), name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

// --pprof serves Go profiles; without it the path is not found.
func TestPprofFlag(t *testing.T) {
	_, off := startSingle(t, nil)
	if code, _, _ := do(t, "GET", off.URL+"/debug/pprof/", ""); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ without --pprof: %d, want 404", code)
	}
	_, on := startSingle(t, func(c *Config) { c.Pprof = true })
	if code, body, _ := do(t, "GET", on.URL+"/debug/pprof/", ""); code != 200 || !strings.Contains(string(body), "goroutine") {
		t.Errorf("/debug/pprof/ with --pprof: %d", code)
	}
}

// TestWriteResultJSON holds the hand-built commit answer to what
// encoding/json makes of api.WriteResult, headers included.
func TestWriteResultJSON(t *testing.T) {
	for _, tok := range []env.Token{
		{LSN: lsn.New(1, 4096), Gen: 7, Checksum: 0xdeadbeef, Permanent: true},
		{LSN: lsn.New(4294967295, 4294967295), Gen: 1<<64 - 1, Checksum: 1},
		{LSN: lsn.New(2, 0), Checksum: 5},
		{},
	} {
		rec := httptest.NewRecorder()
		writeResult(rec, tok)
		want, err := json.Marshal(api.WriteResult{LSN: tok.LSN.String(), Gen: tok.Gen, Token: tok.String(), Permanent: tok.Permanent})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSuffix(rec.Body.String(), "\n"); got != string(want) {
			t.Errorf("%v: body %q, want %q", tok, got, want)
		}
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" ||
			rec.Header().Get("Content-Length") != strconv.Itoa(rec.Body.Len()) {
			t.Errorf("%v: code %d, headers %v", tok, rec.Code, rec.Header())
		}
	}
}
