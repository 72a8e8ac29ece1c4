package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// exportedMetricNames are the names a data site can export: every
// descriptor of its collector and every family its registry gathers.
func exportedMetricNames(t *testing.T, n *node) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	ch := make(chan *prometheus.Desc, 1024)
	(&collector{n: n}).Describe(ch)
	close(ch)
	re := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		if m := re.FindStringSubmatch(d.String()); m != nil {
			names[m[1]] = true
		}
	}
	fams, err := n.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		names[f.GetName()] = true
	}
	return names
}

// usedMetricNames are the logship_ metric names an expression text uses,
// without a histogram's series suffix.
func usedMetricNames(text string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`logship_[a-z0-9_]+`).FindAllString(text, -1) {
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if strings.HasSuffix(m, suf) && strings.Contains(m, "_seconds") {
				m = strings.TrimSuffix(m, suf)
			}
		}
		out = append(out, m)
	}
	return out
}

// The alert rules and the dashboard use only metrics repnode exports, the
// rules pass promtool (when installed), and the dashboard is JSON.
func TestProductionKitNamesRealMetrics(t *testing.T) {
	n, srv := startSingle(t, nil)
	do(t, "PUT", srv.URL+"/v1/kv/b/k", "v") // the commit histogram has a sample
	names := exportedMetricNames(t, n)

	rules, err := os.ReadFile("../../docs/examples/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, l := range strings.Split(string(rules), "\n") {
		if e, ok := strings.CutPrefix(strings.TrimSpace(l), "expr:"); ok {
			exprs = append(exprs, e)
		}
	}
	if len(exprs) < 8 {
		t.Fatalf("alerts.yml: %d rules found", len(exprs))
	}
	for _, want := range []string{"LogshipMasterMissing", "LogshipReplicationLagHigh", "LogshipStorageFailed", "LogshipSlowTurns", "LogshipRetentionHeadroomLow"} {
		if !strings.Contains(string(rules), "alert: "+want) {
			t.Errorf("alerts.yml lacks %s", want)
		}
	}
	for _, e := range exprs {
		for _, m := range usedMetricNames(e) {
			if !names[m] {
				t.Errorf("alerts.yml uses %s, which repnode does not export: %s", m, e)
			}
		}
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		if out, err := exec.Command(p, "check", "rules", "../../docs/examples/alerts.yml").CombinedOutput(); err != nil {
			t.Errorf("promtool check rules: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool not installed: rules checked for metric names only")
	}

	raw, err := os.ReadFile("../../docs/examples/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if len(dash.Panels) < 10 {
		t.Fatalf("dashboard has %d panels", len(dash.Panels))
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, m := range usedMetricNames(tg.Expr) {
				if !names[m] {
					t.Errorf("dashboard panel %q uses %s, which repnode does not export", p.Title, m)
				}
			}
		}
	}

	unit, err := os.ReadFile("../../docs/examples/repnode.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/repnode --config /etc/logship/repnode.toml") ||
		!strings.Contains(string(unit), "RestartPreventExitStatus=2") {
		t.Errorf("repnode.service does not start repnode with the example config")
	}
}
