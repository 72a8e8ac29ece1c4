package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"logship/cmd/internal/api"
)

type request struct{ method, path, body string }

// fakeNode answers admin calls like repnode and records them.
func fakeNode(t *testing.T, answers map[string]func(w http.ResponseWriter)) (string, *[]request) {
	t.Helper()
	var got []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, request{r.Method, r.URL.Path, string(b)})
		if a, ok := answers[r.URL.Path]; ok {
			a(w)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), &got
}

func TestAdminCommandsPostTheContractBodies(t *testing.T) {
	node, got := fakeNode(t, map[string]func(http.ResponseWriter){
		"/v1/admin/archive": func(w http.ResponseWriter) {
			w.Write([]byte(`{"checkpoint_lsn":"3/100","keep_from":"3/32","removed":["log.0000000001","log.0000000002"]}`))
		},
	})
	for _, c := range []struct {
		args     []string
		path     string
		body     string
		inOutput string
	}{
		{[]string{"sync"}, "/v1/admin/sync", "", "sync started"},
		{[]string{"sync", "--delay"}, "/v1/admin/sync", `{"delay":true}`, "delays its sync"},
		{[]string{"sync", "--no-delay"}, "/v1/admin/sync", `{"delay":false}`, "at once"},
		{[]string{"elect"}, "/v1/admin/elect", "", "election called"},
		{[]string{"transfer", "--to", "3"}, "/v1/admin/transfer", `{"to":3}`, "site 3"},
		{[]string{"archive"}, "/v1/admin/archive", "", "2 log file(s) removed"},
		{[]string{"archive", "--force"}, "/v1/admin/archive", `{"dry_run":false,"force":true}`, "2 log file(s) removed"},
		{[]string{"allow-rollback"}, "/v1/admin/allow-rollback", "", "may now roll back once"},
	} {
		*got = nil
		code, out, errs := runCmd(append([]string{"--node", node}, c.args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", c.args, code, errs)
		}
		// elect reads the status first (the master does not elect).
		var posts []request
		for _, r := range *got {
			if r.method != http.MethodGet {
				posts = append(posts, r)
			}
		}
		if len(posts) != 1 || posts[0].method != http.MethodPost || posts[0].path != c.path || posts[0].body != c.body {
			t.Fatalf("%v sent %+v, want POST %s %q", c.args, *got, c.path, c.body)
		}
		if !strings.Contains(out, c.inOutput) {
			t.Fatalf("%v printed %q, want %q in it", c.args, out, c.inOutput)
		}
	}
}

func TestAdminErrorsAndUsage(t *testing.T) {
	node, _ := fakeNode(t, map[string]func(http.ResponseWriter){
		"/v1/admin/elect": func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusConflict)
			json.NewEncoder(w).Encode(api.ErrorBody{Error: "elections are off on this site: it was started with --master"})
		},
	})
	if code, _, errs := runCmd("--node", node, "elect"); code != 1 || !strings.Contains(errs, "elections are off") {
		t.Fatalf("409: exit %d %q", code, errs)
	}
	for _, args := range [][]string{
		{"sync", "--delay", "--no-delay"},
		{"transfer"},
		{"archive", "now"},
		{"archive", "--dry"},
	} {
		if code, _, errs := runCmd(append([]string{"--node", node}, args...)...); code != 2 || !strings.Contains(errs, "usage:") {
			t.Errorf("%v: exit %d %q", args, code, errs)
		}
	}
}
