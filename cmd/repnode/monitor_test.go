package main

import (
	"net"
	"strings"
	"testing"
	"time"

	"logship/cmd/internal/api"
	"logship/wal/lsn"
)

// deadAddr is a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// A master whose only peer is down: writes commit (ack none), and the
// peer falls behind.
func startLonelyMaster(t *testing.T) (*node, string) {
	t.Helper()
	peer := deadAddr(t)
	n, srv := startSingle(t, func(c *Config) {
		c.Ack = "none"
		c.Peers = Peers{2: peer}
	})
	return n, srv.URL
}

// lsn (and last_lsn) is the newest record: the LSN the last write
// answered with, which applied_lsn reaches; end_lsn is where the next
// record goes.
func TestStatusLSNIsTheNewestRecord(t *testing.T) {
	_, srv := startSingle(t, nil)
	code, body, _ := do(t, "GET", srv.URL+"/v1/status", "")
	if st := decode[api.Status](t, body); code != 200 || st.LSN != "0/0" || st.LastLSN != "0/0" || st.EndLSN != "0/0" {
		t.Fatalf("empty site: %d lsn %q last_lsn %q end_lsn %q, want 0/0", code, st.LSN, st.LastLSN, st.EndLSN)
	}
	_, body, _ = do(t, "PUT", srv.URL+"/v1/kv/b/k", "v")
	w := decode[api.WriteResult](t, body)
	var st api.Status
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body, _ = do(t, "GET", srv.URL+"/v1/status", "")
		st = decode[api.Status](t, body)
		if st.AppliedLSN == st.LSN || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the applier trails the log: poll, bounded
	}
	last, err1 := lsn.Parse(st.LSN)
	end, err2 := lsn.Parse(st.EndLSN)
	if err1 != nil || err2 != nil || st.LSN != w.LSN || st.LastLSN != w.LSN || !last.Less(end) || st.AppliedLSN != st.LSN {
		t.Fatalf("after a write at %s: lsn %q last_lsn %q end_lsn %q applied_lsn %q; want lsn = last_lsn = applied_lsn = the write, end_lsn after it",
			w.LSN, st.LSN, st.LastLSN, st.EndLSN, st.AppliedLSN)
	}
	// The next write goes exactly where end_lsn said.
	_, body, _ = do(t, "PUT", srv.URL+"/v1/kv/b/k2", "v")
	if next := decode[api.WriteResult](t, body); next.LSN != st.EndLSN {
		t.Fatalf("next write at %s, status said the log ends at %s", next.LSN, st.EndLSN)
	}
}

func TestStatusShowsPerSiteProgress(t *testing.T) {
	_, url := startLonelyMaster(t)
	for range 3 {
		if code, body, _ := do(t, "PUT", url+"/v1/kv/b/k", "v"); code != 200 {
			t.Fatalf("PUT: %d %s", code, body)
		}
	}
	_, body, _ := do(t, "GET", url+"/v1/status", "")
	m := decode[map[string]any](t, body)
	sites := m["sites"].([]any)
	if len(sites) != 1 {
		t.Fatalf("sites %v", sites)
	}
	s := sites[0].(map[string]any)
	for _, f := range []string{"id", "addr", "connected", "lsn", "lag_bytes", "sent_lsn", "flushed_lsn", "applied_lsn", "lag_seconds", "catchup_eta_seconds"} {
		if _, ok := s[f]; !ok {
			t.Errorf("site lacks %q: %s", f, body)
		}
	}
	st := decode[api.Status](t, body)
	x := st.Sites[0]
	if x.Connected || x.FlushedLSN != "0/0" || x.LagBytes <= 0 || x.LagSeconds <= 0 || x.CatchUpETASeconds != -1 {
		t.Fatalf("a down site shows %+v; want nothing flushed, lag in bytes and seconds, no ETA (-1)", x)
	}
}

func TestStatsEndpoint(t *testing.T) {
	_, srv := startSingle(t, nil)
	do(t, "PUT", srv.URL+"/v1/kv/b/k", "v")
	code, body, _ := do(t, "GET", srv.URL+"/v1/stats", "")
	if code != 200 {
		t.Fatalf("stats: %d %s", code, body)
	}
	st := decode[api.Stats](t, body)
	if st.ID != 1 || st.Election != nil {
		t.Fatalf("stats %s: want id 1 and no election section (--master)", body)
	}
	if st.Env["commits"] != 1.0 || st.Env["fsync_count"] == nil || st.Replication["perm_failed"] == nil {
		t.Fatalf("stats %s: want env commits 1, fsync_count, replication perm_failed", body)
	}
	if _, ok := st.Replication["max_perm_lsn"].(string); !ok {
		t.Fatalf("stats %s: LSNs should be strings", body)
	}
}

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{
		"MaxPermLSN": "max_perm_lsn", "MsgsBadGen": "msgs_bad_gen", "AcksRecv": "acks_recv",
		"Vote2Sent": "vote2_sent", "LSNFile": "lsn_file", "ID": "id",
	} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMetricsFamiliesAfterWrites(t *testing.T) {
	_, url := startLonelyMaster(t)
	for range 3 {
		do(t, "PUT", url+"/v1/kv/b/k", "v")
	}
	_, body, _ := do(t, "GET", url+"/metrics", "")
	for _, name := range []string{
		`logship_lsn{which="end"}`, `logship_lsn{which="last"}`,
		`logship_site_sent_lsn{site="2"}`, `logship_site_flushed_lsn{site="2"}`, `logship_site_applied_lsn{site="2"}`,
		`logship_site_acked_lsn{site="2"}`, `logship_site_lag_bytes{site="2"}`, `logship_site_lag_seconds{site="2"}`,
		`logship_site_catchup_eta_seconds{site="2"} -1`, `logship_site_connected{site="2"} 0`,
		"logship_commit_duration_seconds_bucket", "logship_fsync_duration_seconds_bucket", "logship_fsync_duration_seconds_count",
		"logship_elections_total 0", "logship_elections_won_total", "logship_elections_failed_total",
		"logship_election_votes_sent_total", "logship_election_votes_received_total",
		"logship_acks_received_total", "logship_perm_failed_total", "logship_log_requests_total", "logship_rerequests_total",
		"logship_inits_total", "logship_init_bytes_received_total", "logship_init_bytes_sent_total", "logship_behind_bytes",
	} {
		if !strings.Contains(string(body), name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if strings.Contains(string(body), "logship_fsync_duration_seconds_count 0") {
		t.Errorf("no fsync timed after 3 writes")
	}
}
