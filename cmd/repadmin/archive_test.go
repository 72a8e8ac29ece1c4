package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestArchiveDryRunSaysWhatAndForWhom: --dry-run asks for a dry run and
// prints the files that would go, those kept and the sites that need
// them, and the budget's headroom.
func TestArchiveDryRunSaysWhatAndForWhom(t *testing.T) {
	node, got := fakeNode(t, map[string]func(http.ResponseWriter){
		"/v1/admin/archive": func(w http.ResponseWriter) {
			w.Write([]byte(`{"checkpoint_lsn":"9/100","keep_from":"3/40","removed":[],"dry_run":true,"force":false,
				"would_remove":["/d/log/log.0000000001","/d/log/log.0000000002"],
				"kept":[{"file":"log.0000000003","sites":[2]},{"file":"log.0000000004","sites":[2,3]}],
				"log_keep_bytes":1000000,"log_retained_bytes":400000,"log_keep_headroom_bytes":600000}`))
		},
	})
	code, out, errs := runCmd("--node", node, "archive", "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if len(*got) != 1 || (*got)[0].body != `{"dry_run":true,"force":false}` {
		t.Fatalf("sent %+v, want a dry-run body", *got)
	}
	for _, want := range []string{
		"dry run: checkpoint would be at 9/100; log would be kept from 3/40; 2 log file(s) would be removed",
		"would remove /d/log/log.0000000001",
		"kept log.0000000003: needed by site 2\n",
		"kept log.0000000004: needed by sites 2, 3\n",
		"400000 of 1000000 bytes (headroom 600000)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "  removed ") {
		t.Errorf("a dry run printed files as removed:\n%s", out)
	}
}

// TestArchiveForceNamesSitesLetGo: --force says which sites lose the
// log they needed; a dry run an older repnode did not understand (it
// archived) is an error, not a silent success.
func TestArchiveForceNamesSitesLetGo(t *testing.T) {
	node, _ := fakeNode(t, map[string]func(http.ResponseWriter){
		"/v1/admin/archive": func(w http.ResponseWriter) {
			w.Write([]byte(`{"checkpoint_lsn":"9/100","keep_from":"9/32","removed":["/d/log/log.0000000003"],"force":true,"let_go":[2],"kept":[]}`))
		},
	})
	code, out, errs := runCmd("--node", node, "archive", "--force")
	if code != 0 || !strings.Contains(out, "removed /d/log/log.0000000003") || !strings.Contains(out, "site 2 let go") {
		t.Fatalf("exit %d, output %q %q", code, out, errs)
	}
	if code, _, errs := runCmd("--node", node, "archive", "--dry-run"); code != 1 || !strings.Contains(errs, "does not know --dry-run") {
		t.Fatalf("dry run answered as an archive: exit %d %q", code, errs)
	}
}
