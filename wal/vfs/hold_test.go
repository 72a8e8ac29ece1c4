package vfs

import (
	"errors"
	"testing"
	"testing/synctest"
)

// A held fsync waits, neither failing nor completing, until released;
// other operations and other files go on meanwhile.
func TestInjectorHoldStallsSyncUntilReleased(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inj := NewInjector(NewMem())
		_ = inj.MkdirAll("/d", 0o755)
		f := writeFile(t, inj, "/d/log", "a", false)
		other := writeFile(t, inj, "/d/other", "b", false)
		release := inj.Hold(OpSync, "log")
		done := make(chan error, 1)
		go func() { done <- f.Sync() }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("held sync returned %v", err)
		default:
		}
		if n := inj.Holding(); n != 1 {
			t.Fatalf("Holding = %d, want 1", n)
		}
		if _, err := f.Write([]byte("more")); err != nil {
			t.Fatalf("write while a sync is held: %v", err)
		}
		if err := other.Sync(); err != nil {
			t.Fatalf("sync of a file the hold does not name: %v", err)
		}
		release()
		if err := <-done; err != nil {
			t.Fatalf("released sync: %v", err)
		}
		release() // idempotent
		if n := inj.Holding(); n != 0 {
			t.Fatalf("Holding after release = %d", n)
		}
		if err := f.Sync(); err != nil {
			t.Fatalf("sync after release: %v", err)
		}
	})
}

// A released call still meets the faults injected for it.
func TestInjectorHoldThenFault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inj := NewInjector(NewMem())
		_ = inj.MkdirAll("/d", 0o755)
		f := writeFile(t, inj, "/d/log", "a", false)
		release := inj.Hold(OpSync, "")
		inj.Inject(Fault{Op: OpSync, Times: 1})
		done := make(chan error, 1)
		go func() { done <- f.Sync() }()
		synctest.Wait()
		release()
		if err := <-done; !errors.Is(err, ErrInjected) {
			t.Fatalf("held then faulted sync: %v", err)
		}
	})
}
