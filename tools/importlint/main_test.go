package main

import (
	"strings"
	"testing"
)

func TestCheckCatchesImpureCore(t *testing.T) {
	pkgs := []pkg{
		{ImportPath: "logship/rep", Imports: []string{"logship/wal/lsn", "time"}, Deps: []string{"logship/env", "time"}},
		{ImportPath: "logship/elect", Imports: []string{"errors"}},
		{ImportPath: "logship/wal/lsn", Imports: []string{"strconv"}, Deps: []string{"strconv"}},
		{ImportPath: "logship/wal", Deps: []string{"logship/env"}},
		{ImportPath: "logship/cmd/repadmin", Imports: []string{"logship/env", "logship/rep"}},
		{ImportPath: "logship/env", Imports: []string{"logship/rep/sim"}},
		{ImportPath: "logship/tools/simrun", Imports: []string{"logship/rep/sim"}},
	}
	got := strings.Join(check(pkgs), "\n")
	for _, want := range []string{
		"logship/rep imports time",
		"logship/rep imports logship/env",
		"logship/wal imports logship/env",
		"logship/cmd/repadmin imports logship/rep:",
		"logship/env imports logship/rep/sim",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	for _, clean := range []string{"logship/elect", "logship/wal/lsn", "logship/tools/simrun"} {
		if strings.Contains(got, clean+" imports") {
			t.Errorf("%s flagged but follows the rules:\n%s", clean, got)
		}
	}
}

func TestMatches(t *testing.T) {
	for _, c := range []struct {
		path, pat string
		want      bool
	}{
		{"logship/rep", "logship/rep", true},
		{"logship/rep/transport", "logship/rep", false},
		{"logship/rep/transport", "logship/rep/...", true},
		{"logship/replay", "logship/rep/...", false},
	} {
		if got := matches(c.path, c.pat); got != c.want {
			t.Errorf("matches(%q, %q) = %v", c.path, c.pat, got)
		}
	}
}
