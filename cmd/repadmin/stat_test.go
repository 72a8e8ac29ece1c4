package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestStatPrintsEverySectionAligned(t *testing.T) {
	node, _ := fakeNode(t, map[string]func(http.ResponseWriter){
		"/v1/stats": func(w http.ResponseWriter) {
			w.Write([]byte(`{"id":1,
				"replication":{"acks_recv":18446744073709551615,"max_perm_lsn":"3/4096","perm_failed":2},
				"env":{"commits":7,"fsync_count":9}}`))
		},
	})
	code, out, errs := runCmd("--node", node, "stat")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"site 1 at " + node, "REPLICATION", "ELECTION", "elections are off", "ENVIRONMENT"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Values exact (no float rounding), LSNs unquoted, columns aligned.
	acks, perm, lsnRow := lineWith(out, "  acks_recv"), lineWith(out, "  perm_failed"), lineWith(out, "  max_perm_lsn")
	if !strings.HasSuffix(acks, " 18446744073709551615") || !strings.HasSuffix(lsnRow, " 3/4096") {
		t.Fatalf("rows %q, %q", acks, lsnRow)
	}
	if strings.Index(acks, "1844") != strings.Index(perm, "2") {
		t.Fatalf("values not aligned:\n%s\n%s", acks, perm)
	}
	if strings.Index(out, "acks_recv") > strings.Index(out, "perm_failed") {
		t.Fatalf("rows not in name order:\n%s", out)
	}

	code, out, _ = runCmd("--node", node, "stat", "--json")
	var back map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &back) != nil || back["replication"] == nil {
		t.Fatalf("--json: exit %d %q", code, out)
	}
}

func TestStatOnAnOldNodeSaysSo(t *testing.T) {
	node, _ := fakeNode(t, map[string]func(http.ResponseWriter){
		"/v1/stats": func(w http.ResponseWriter) { http.Error(w, "404 page not found", http.StatusNotFound) },
	})
	if code, _, errs := runCmd("--node", node, "stat"); code != 1 || !strings.Contains(errs, "older repnode") {
		t.Fatalf("exit %d %q", code, errs)
	}
	if code, _, errs := runCmd("--node", node, "stat", "extra"); code != 2 || !strings.Contains(errs, "usage:") {
		t.Fatalf("extra arg: exit %d %q", code, errs)
	}
}
