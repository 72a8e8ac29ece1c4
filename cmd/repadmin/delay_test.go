package main

import (
	"net/http"
	"strings"
	"testing"

	"logship/cmd/internal/api"
)

func TestStatusShowsApplyDelay(t *testing.T) {
	node := serveStatus(t, http.StatusOK, api.Status{
		ID: 3, Role: "client", Master: 1, Gen: 2, LSN: "1/900", DurableLSN: "1/900", AppliedLSN: "1/100", SyncState: "ready",
		ApplyDelay: "1h0m0s", ApplyDelayActive: true, AppliedCommitAgeSeconds: 3601,
	})
	code, out, errs := runCmd("--node", node, "status")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if want := "delayed by 1h0m0s: reads see the data as of 1h0m1s ago"; !strings.Contains(out, want) {
		t.Fatalf("output lacks %q:\n%s", want, out)
	}

	node = serveStatus(t, http.StatusOK, api.Status{ID: 3, Role: "client", SyncState: "ready"})
	if _, out, _ = runCmd("--node", node, "status"); strings.Contains(out, "delay") {
		t.Fatalf("an undelayed site's status mentions a delay:\n%s", out)
	}
}
