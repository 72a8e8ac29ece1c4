package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetricsLint runs Prometheus' own metric linter (promtool check
// metrics uses the same) over everything a site exports, and checks the
// operations metrics are there with sensible values.
func TestMetricsLint(t *testing.T) {
	n, srv := startSingle(t, nil)
	do(t, "PUT", srv.URL+"/v1/kv/b/k", "v")
	problems, err := testutil.GatherAndLint(n.metrics.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
	_, body, _ := do(t, "GET", srv.URL+"/metrics", "")
	text := string(body)
	for _, want := range []string{`logship_build_info{goversion="go`, `logship_disk_bytes{part="log"}`, `logship_disk_bytes{part="data"}`, "logship_disk_free_bytes "} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	parts := diskUsage(n.cfg.Dir)
	if parts["log"] == 0 || parts["data"] == 0 {
		t.Errorf("disk usage %v: want the log and data.db counted", parts)
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(p, "check", "metrics")
		cmd.Stdin = strings.NewReader(text)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	}
}
