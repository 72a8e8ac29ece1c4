package env

import (
	"testing"
	"testing/synctest"
	"time"
)

// TestApplierBatching checks, on a fake clock, that the applier waits
// ApplyDelay to gather a batch, and applies at once for a waiter.
func TestApplierBatching(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.ApplyDelay = time.Hour
		e, err := Open(t.TempDir(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()

		put(t, e, "b", "k1", "v1")
		put(t, e, "b", "k2", "v2")
		synctest.Wait()
		if _, ok := appliedGet(t, e, "b", "k1"); ok {
			t.Fatal("applied before ApplyDelay")
		}
		time.Sleep(59 * time.Minute) // fake clock: just short of ApplyDelay
		synctest.Wait()
		if _, ok := appliedGet(t, e, "b", "k1"); ok {
			t.Fatal("applied before ApplyDelay")
		}
		time.Sleep(2 * time.Minute) // fake clock: past ApplyDelay
		synctest.Wait()
		if v, _ := appliedGet(t, e, "b", "k2"); v != "v2" {
			t.Fatal("not applied after ApplyDelay")
		}
		if s := e.Stats(); s.AppliedBatches != 1 || s.AppliedRecords != 2 {
			t.Fatalf("%d batches of %d records, want one of 2", s.AppliedBatches, s.AppliedRecords)
		}

		// A waiter does not wait for the delay.
		tok := put(t, e, "b", "k3", "v3")
		start := time.Now()
		if err := e.WaitApplied(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("WaitApplied took %v of fake time", d)
		}
	})
}
