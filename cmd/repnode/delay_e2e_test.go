package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"logship/cmd/internal/api"
	"logship/internal/testwait"
	"logship/wal/lsn"
)

// TestDelayedReplica: a three-site group whose site 3 runs with
// --apply-delay 3s --priority 0. A write on the master is durable on
// site 3 at once (and, under --ack all, answered permanent: site 3 acks
// it before applying it), but a GET on site 3 sees it only once the delay
// has passed; after a DELETE on the master, site 3 still serves the old
// value for the delay.
func TestDelayedReplica(t *testing.T) {
	const delay = 3 * time.Second
	bin := buildBinary(t)
	g := newGroup(t, 3)
	procs := map[int]*proc{}
	for id := 1; id <= 3; id++ {
		args := append(g.args(id, t.TempDir()), "--ack", "all", "--ack-timeout", "2s") // acks in time, though under the delay
		if id == 3 {
			args = append(args, "--apply-delay", delay.String(), "--priority", "0")
		}
		procs[id] = startProc(t, bin, g.http[id], args...)
	}
	status := func(id int) api.Status {
		_, body, _ := do(t, "GET", "http://"+procs[id].http+"/v1/status", "")
		return decode[api.Status](t, body)
	}
	var m int
	testwait.Poll(t, 20*time.Second, 50*time.Millisecond, "a master elected among sites 1 and 2", func() bool {
		for _, id := range []int{1, 2} {
			if st := status(id); st.Role == "master" && st.Election != nil && st.Election.CanWrite {
				m = id
				return true
			}
		}
		return false
	})
	mURL, dURL := "http://"+procs[m].http, "http://"+procs[3].http
	testwait.Poll(t, 20*time.Second, 50*time.Millisecond, "site 3 a client of the master", func() bool {
		st := status(3)
		return st.Role == "client" && st.Master == uint64(m) && st.SyncState == "ready"
	})
	if st := status(3); st.ApplyDelay != delay.String() || !st.ApplyDelayActive {
		t.Fatalf("site 3 status: apply_delay %q active %v, want %q active", st.ApplyDelay, st.ApplyDelayActive, delay)
	}
	_, metrics, _ := do(t, "GET", dURL+"/metrics", "")
	for _, want := range []string{"logship_apply_delay_seconds 3", "logship_apply_delay_active 1"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("site 3 /metrics lacks %q", want)
		}
	}

	// A write: permanent (site 3 acked it), durable on site 3 at once,
	// not visible there until the delay has passed.
	putStart := time.Now()
	code, body, _ := do(t, "PUT", mURL+"/v1/kv/b/k", "v1")
	if code != 200 {
		t.Fatalf("PUT on the master: %d %s", code, body)
	}
	w := decode[api.WriteResult](t, body)
	if !w.Permanent {
		t.Fatalf("write %s not permanent under --ack all: the delayed site did not ack it at once", w.LSN)
	}
	at, err := lsn.Parse(w.LSN)
	if err != nil {
		t.Fatal(err)
	}
	durable, err := lsn.Parse(status(3).DurableLSN)
	if err != nil || durable.Less(at) {
		t.Fatalf("site 3 durable at %v (%v), want %s at once", durable, err, at)
	}
	visibleAt := firstVisible(t, dURL+"/v1/kv/b/k", "", "v1", delay+10*time.Second)
	if early := visibleAt.Sub(putStart); early < delay {
		t.Fatalf("site 3 served the write %v after it was sent, before its --apply-delay %v", early, delay)
	}
	if st := status(3); st.AppliedCommitAgeSeconds < delay.Seconds()-0.5 {
		t.Errorf("site 3 applied_commit_age_seconds %v, want about the delay %v", st.AppliedCommitAgeSeconds, delay)
	}

	// A DELETE on the master: site 3 serves the old value for the delay.
	delStart := time.Now()
	if code, body, _ := do(t, "DELETE", mURL+"/v1/kv/b/k", ""); code != 200 {
		t.Fatalf("DELETE on the master: %d %s", code, body)
	}
	goneAt := firstVisible(t, dURL+"/v1/kv/b/k", "v1", "", delay+10*time.Second)
	if early := goneAt.Sub(delStart); early < delay {
		t.Fatalf("site 3 lost the deleted value %v after the DELETE was sent, before its --apply-delay %v", early, delay)
	}
}

// firstVisible polls a GET on url (every 50 ms, up to within) until it
// answers want ("" = 404), checks that every earlier answer was old (""
// = 404), and returns when the first wanted answer was asked for.
func firstVisible(t *testing.T, url, old, want string, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for polls := 0; ; polls++ {
		asked := time.Now()
		code, body, _ := do(t, "GET", url, "")
		switch {
		case want == "" && code == http.StatusNotFound, want != "" && code == 200 && string(body) == want:
			if polls == 0 {
				t.Fatalf("GET %s answered %d %q at the first check: the delayed site applied at once", url, code, body)
			}
			return asked
		case old == "" && code == http.StatusNotFound, old != "" && code == 200 && string(body) == old:
		default:
			t.Fatalf("GET %s: %d %q", url, code, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: not %q within %v", url, want, within)
		}
		time.Sleep(50 * time.Millisecond) // a real process gives no event for "applied": poll
	}
}
