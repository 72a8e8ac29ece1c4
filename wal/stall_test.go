package wal

import (
	"testing"
	"testing/synctest"
	"time"

	"logship/wal/vfs"
)

// SyncingSince reports when a stalled fsync began, and zero once it has
// completed.
func TestSyncingSinceReportsStalledFsync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o, mem := memOpts()
		inj := vfs.NewInjector(mem)
		o.FS = inj
		l := mustOpen(t, testDir, o)
		defer l.Close()
		if s := l.SyncingSince(); !s.IsZero() {
			t.Fatalf("idle log: SyncingSince = %v", s)
		}
		at, err := l.Append(payload(0))
		if err != nil {
			t.Fatal(err)
		}
		release := inj.Hold(vfs.OpSync, "")
		done := make(chan error, 1)
		began := time.Now()
		go func() { done <- l.Sync(at) }()
		synctest.Wait()
		if inj.Holding() != 1 {
			t.Fatal("the fsync did not reach the disk")
		}
		time.Sleep(5 * time.Second) // fake clock: the fsync hangs this long
		s := l.SyncingSince()
		if s.IsZero() || s.Before(began) || time.Since(s) < 5*time.Second {
			t.Fatalf("stalled fsync: SyncingSince = %v (began %v, now %v)", s, began, time.Now())
		}
		release()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if s := l.SyncingSince(); !s.IsZero() {
			t.Fatalf("after the fsync: SyncingSince = %v", s)
		}
		if l.DurableEnd().Less(at) || l.DurableEnd() == at {
			t.Fatalf("record %s not durable (durable end %s)", at, l.DurableEnd())
		}
	})
}
