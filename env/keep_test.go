package env

import (
	"fmt"
	"os"
	"slices"
	"testing"

	"logship/wal"
	"logship/wal/lsn"
)

// keepEnv opens an environment with 16 KiB log files, the given budget
// and AutoRemoveLogs, and a first commit whose LSN a lagging site
// acknowledged; then writes about 100 KiB more (several log files).
func keepEnv(t *testing.T, budget int64) (*Env, lsn.LSN) {
	t.Helper()
	cfg := testConfig()
	cfg.LogFileSize = 16 << 10
	cfg.MaxValueSize = 1 << 10
	cfg.AutoRemoveLogs = true
	cfg.LogKeepBytes = budget
	e := openTest(t, t.TempDir(), cfg)
	acked := put(t, e, "b", "first", "v").LSN
	val := string(make([]byte, 512))
	for i := range 200 {
		put(t, e, "b", fmt.Sprintf("k%04d", i), val)
	}
	if e.End().File < acked.File+4 {
		t.Fatalf("the log grew from file %d to %d only; the test wants several", acked.File, e.End().File)
	}
	return e, acked
}

// TestLogKeptForLaggingSiteWithinBudget: a checkpoint with AutoRemoveLogs
// keeps the log a lagging site needs while it is within LogKeepBytes,
// and status says how much is kept and the headroom left.
func TestLogKeptForLaggingSiteWithinBudget(t *testing.T) {
	const budget = 1 << 20
	e, acked := keepEnv(t, budget)
	e.KeepFor([]SiteNeed{{Site: 2, From: acked}})
	info, err := e.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Removed) != 0 || info.KeepFrom != acked {
		t.Fatalf("checkpoint removed %v, keeps from %s; want nothing removed, kept from the site's %s", info.Removed, info.KeepFrom, acked)
	}
	if first := e.log.First(); acked.Less(first) {
		t.Fatalf("the log starts at %s, after the %s the site needs", first, acked)
	}
	k := e.LogKeep()
	want := e.Distance(acked, e.End())
	if len(k.Sites) != 1 || k.Sites[0].LetGo || k.Sites[0].Kept != want || k.Retained != want || k.Headroom != budget-want {
		t.Fatalf("LogKeep = %+v; want site 2 kept %d bytes, headroom %d", k, want, budget-want)
	}
	if n := e.Stats().LogKeepLetGo; n != 0 {
		t.Errorf("LogKeepLetGo = %d, want 0", n)
	}
	// Once the site has caught up, the log goes.
	e.KeepFor([]SiteNeed{{Site: 2, From: e.log.Last()}})
	if info, err = e.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(info.Removed) == 0 {
		t.Fatalf("nothing removed once the site caught up (keep from %s)", info.KeepFrom)
	}
}

// TestLaggingSitePastBudgetIsLetGo: a site that needs more log than
// LogKeepBytes is let go (said once, counted once) and its log removed;
// the log kept stays within the budget.
func TestLaggingSitePastBudgetIsLetGo(t *testing.T) {
	const budget = 32 << 10 // two log files; the site needs six
	e, acked := keepEnv(t, budget)
	e.KeepFor([]SiteNeed{{Site: 2, From: acked}, {Site: 3, From: e.log.Last()}})
	for range 2 {
		if _, err := e.Checkpoint(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if first := e.log.First(); !acked.Less(first) {
		t.Fatalf("the log still starts at %s: what site 2 needs (%s) was kept past the budget", first, acked)
	}
	if n := e.Stats().LogKeepLetGo; n != 1 {
		t.Errorf("LogKeepLetGo = %d after two checkpoints, want 1", n)
	}
	k := e.LogKeep()
	if len(k.Sites) != 2 || !k.Sites[0].LetGo || k.Sites[0].Kept != 0 || k.Sites[1].LetGo {
		t.Fatalf("LogKeep sites = %+v; want site 2 let go, site 3 kept", k.Sites)
	}
	if k.Retained > budget || k.Headroom != budget-k.Retained {
		t.Errorf("retained %d, headroom %d, budget %d", k.Retained, k.Headroom, budget)
	}
	// After its init the site is back within the budget: let go again
	// later, it is counted again.
	e.KeepFor([]SiteNeed{{Site: 2, From: e.log.Last()}})
	if _, err := e.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		put(t, e, "b", fmt.Sprintf("again%04d", i), string(make([]byte, 512)))
	}
	if _, err := e.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := e.Stats().LogKeepLetGo; n != 2 {
		t.Errorf("LogKeepLetGo = %d, want 2", n)
	}
}

// TestLogKeptForUnknownSite: a site not heard of gets the whole budget,
// and no more; a zero budget keeps nothing for anyone.
func TestLogKeptForUnknownSite(t *testing.T) {
	for _, budget := range []int64{0, 40 << 10} {
		t.Run(fmt.Sprint(budget), func(t *testing.T) {
			e, _ := keepEnv(t, budget)
			e.KeepFor([]SiteNeed{{Site: 2}})
			info, err := e.Checkpoint(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			kept := e.Distance(lsn.LSN{File: e.log.First().File}, e.End())
			if budget == 0 {
				if info.KeepFrom != info.LSN {
					t.Fatalf("budget 0 keeps from %s, want the checkpoint %s", info.KeepFrom, info.LSN)
				}
				return
			}
			if kept > budget || kept < budget-e.cfg.LogFileSize {
				t.Fatalf("%d bytes of log kept for an unknown site, want the budget %d (within a file)", kept, budget)
			}
			if k := e.LogKeep(); k.Headroom != budget-k.Retained || k.Sites[0].LetGo {
				t.Fatalf("LogKeep = %+v", k)
			}
		})
	}
}

// TestArchiveDryRunAndForce: a dry run names the files Archive would
// remove and those it keeps for which site, and removes nothing; an
// archive keeps what a site within the budget needs; Force removes it
// and names the sites it lets go.
func TestArchiveDryRunAndForce(t *testing.T) {
	e, acked := keepEnv(t, 1<<20)
	e.cfg.AutoRemoveLogs = false
	e.KeepFor([]SiteNeed{{Site: 2, From: acked}, {Site: 3, From: e.log.Last()}})
	before := e.log.Segments()
	ckpts := e.Stats().Checkpoints
	dry, err := e.Archive(t.Context(), ArchiveOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e.log.Segments(), before) || e.Stats().Checkpoints != ckpts {
		t.Fatal("a dry run removed log files or took a checkpoint")
	}
	if len(dry.Kept) < 3 || dry.KeepFrom != acked {
		t.Fatalf("dry run kept %v from %s; want the files site 2 needs, from %s", dry.Kept, dry.KeepFrom, acked)
	}
	for _, f := range dry.Kept {
		if !slices.Equal(f.Sites, []uint64{2}) {
			t.Errorf("kept %s for %v, want site 2", f.Path, f.Sites)
		}
	}
	if len(dry.Removable) != 0 {
		t.Errorf("dry run would remove %v, the files site 2 needs", dry.Removable)
	}
	forced, err := e.Archive(t.Context(), ArchiveOptions{DryRun: true, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(forced.Removable) < 3 || !slices.Equal(forced.LetGo, []uint64{2}) || len(forced.Kept) != 0 {
		t.Fatalf("forced dry run: remove %v, let go %v, kept %v", forced.Removable, forced.LetGo, forced.Kept)
	}

	plain, err := e.Archive(t.Context(), ArchiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(plain.Removed) != 0 || len(plain.Kept) == 0 {
		t.Fatalf("archive removed %v, kept %v: it must keep what site 2 needs", plain.Removed, plain.Kept)
	}
	done, err := e.Archive(t.Context(), ArchiveOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(done.Removed, forced.Removable) {
		t.Fatalf("forced archive removed %v, its dry run said %v", done.Removed, forced.Removable)
	}
	for _, p := range done.Removed {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s still there: %v", p, err)
		}
	}
}

func TestBudgetFloor(t *testing.T) {
	e := &Env{cfg: Config{LogFileSize: 1000, LogKeepBytes: 2500}}
	for _, c := range []struct{ end, want lsn.LSN }{
		{lsn.LSN{File: 5, Offset: 3000}, lsn.LSN{File: 5, Offset: 500}}, // within the end's file
		{lsn.LSN{File: 5, Offset: 600}, lsn.LSN{File: 4}},               // 1900 bytes back: file 4 whole
		{lsn.LSN{File: 5, Offset: 400}, lsn.LSN{File: 3}},               // 2400 back: files 3 and 4
		{lsn.LSN{File: 2, Offset: 100}, lsn.LSN{File: 1}},               // shorter than the budget
	} {
		got := e.budgetFloor(c.end)
		if got != c.want || e.distance(got, c.end) > e.cfg.LogKeepBytes {
			t.Errorf("budgetFloor(%s) = %s (%d bytes), want %s", c.end, got, e.distance(got, c.end), c.want)
		}
	}
}

// From "no record" (0/0), a distance counts from where the first record
// goes, not a whole log file more: an empty client is as far behind as
// the master's log is long.
func TestDistanceFromNothing(t *testing.T) {
	e := openTest(t, t.TempDir(), testConfig())
	end := lsn.New(1, wal.FileHeaderSize+4000)
	if d := e.Distance(lsn.Zero, end); d != 4000 {
		t.Fatalf("Distance(0/0, %s) = %d, want 4000", end, d)
	}
	if d := e.Distance(lsn.Zero, lsn.Zero); d != 0 {
		t.Fatalf("Distance(0/0, 0/0) = %d", d)
	}
}
