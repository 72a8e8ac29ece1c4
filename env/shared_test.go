package env

import (
	"context"
	"testing"

	"logship/rep"
	"logship/wal/lsn"
)

// The shared record a driver hands over (Replica.KeepShared) is stored
// with the applier's next batch and given back after a restart; a
// rollback below it lowers it, in memory and on disk, so a restart after
// the rollback does not bring back a record the log no longer holds.
func TestSharedRecordOutlivesARestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	e := openTest(t, dir, testConfig())
	if got := e.Replica().Shared(); !got.IsZero() {
		t.Fatalf("a new environment keeps shared %s, want none", got)
	}
	first := put(t, e, "b", "k1", "v1")
	second := put(t, e, "b", "k2", "v2")
	e.Replica().KeepShared(second.LSN)
	last := put(t, e, "b", "k3", "v3") // its batch stores it
	if err := e.WaitApplied(ctx, last); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e = openTest(t, dir, testConfig())
	if got := e.Replica().Shared(); got != second.LSN {
		t.Fatalf("after a restart Shared = %s, want %s", got, second.LSN)
	}
	if _, err := e.RollbackTo(ctx, first.LSN); err != nil {
		t.Fatal(err)
	}
	if got := e.Replica().Shared(); got != first.LSN {
		t.Fatalf("after a rollback to %s Shared = %s", first.LSN, got)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = openTest(t, dir, testConfig())
	if got := e.Replica().Shared(); got != first.LSN {
		t.Fatalf("after a rollback to %s and a restart Shared = %s", first.LSN, got)
	}
}

// An installed snapshot brings its source's shared record, capped at the
// snapshot's LSN: the log starts after that.
func TestInstallTakesTheSourcesSharedRecordCapped(t *testing.T) {
	ctx := context.Background()
	for _, past := range []bool{false, true} {
		src := openTest(t, t.TempDir(), testConfig())
		kept := put(t, src, "b", "k0", "v0").LSN
		if past {
			kept = lsn.New(99, 0) // further than the snapshot will reach
		}
		src.Replica().KeepShared(kept)
		last := put(t, src, "b", "k1", "v1")
		if err := src.WaitApplied(ctx, last); err != nil {
			t.Fatal(err)
		}
		snap, err := src.Replica().TakeSnapshot()
		if err != nil {
			t.Fatal(err)
		}
		dst := openTest(t, t.TempDir(), testConfig())
		r := dst.Replica()
		sendChunks(t, r, snap, 0, snap.Info.Size, 4096)
		if err := r.Install(rep.Install{Snap: snap.Info, Discard: r.Last()}); err != nil {
			t.Fatal(err)
		}
		want := kept
		if past {
			want = snap.Info.LSN
		}
		if got := r.Shared(); got != want {
			t.Fatalf("past=%t: Shared after the install = %s, want %s", past, got, want)
		}
	}
}
