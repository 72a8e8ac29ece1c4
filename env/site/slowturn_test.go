package site

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"logship/internal/testlog"
	"logship/internal/testwait"
)

// A turn of the loop that takes over slowTurn is counted and logged
// whatever started it (here a command), naming the kind of step that
// took it longest in all, how often and how long; the next turn starts
// with none.
func TestSlowTurnNamesItsSlowestStep(t *testing.T) {
	var logs testlog.Buffer
	ecfg := testConfig()
	ecfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	s := startRepSite(t, newTestNet(t), 1, []SiteID{1}, t.TempDir(), ecfg, func(c *Config) { c.Logger = ecfg.Logger })
	before := s.e.Stats().SlowTurns
	// Five short steps of one kind outweigh one longer step: the turn is
	// slow for the five together.
	err := s.e.do(func() error {
		for range 5 {
			_ = s.e.timed("a slow step", func() error { time.Sleep(slowTurn / 2); return nil })
		}
		return s.e.timed("a longer single step", func() error { time.Sleep(slowTurn); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, "the slow turn counted", func() bool { return s.e.Stats().SlowTurns > before })
	testwait.For(t, 5*time.Second, "the slow turn logged", func() bool { return strings.Contains(logs.String(), `slowest_step="a slow step"`) })
	line := ""
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "took long") {
			line = l
		}
	}
	if !strings.Contains(line, "step_times=5") || !strings.Contains(line, "step_took=") || strings.Contains(line, "step_took=0s") {
		t.Fatalf("the slow kind of step's count or time is missing: %s", line)
	}
	// A slow turn with no storage step names none: the last turn's
	// slowest step does not carry over.
	if err := s.e.do(func() error { time.Sleep(2 * slowTurn); return nil }); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, "the second slow turn logged", func() bool { return strings.Count(logs.String(), "took long") >= 2 })
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	last := ""
	for _, l := range lines {
		if strings.Contains(l, "took long") {
			last = l
		}
	}
	if !strings.Contains(last, `slowest_step=""`) {
		t.Fatalf("a turn without storage steps names one: %s", last)
	}
}
