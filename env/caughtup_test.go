package env

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"logship/internal/testwait"
	"logship/rep"
	"logship/wal/lsn"
)

// A new master's first transaction waits for the records it received as
// a client to be applied, but not holding the writer mutex: shutting
// local commits out (Shut, which the runtime's loop does when the site
// loses its role) returns at once instead of waiting out the backlog,
// and the transaction is then refused as not writable.
func TestShutDoesNotWaitForTheBacklogOfANewMaster(t *testing.T) {
	src := openTest(t, t.TempDir(), testConfig())
	src.Admit(1)
	var recs []rep.Record
	for i := range 50 {
		p, err := src.Append(t.Context(), func(tx *Tx) error {
			return tx.Put("b", fmt.Appendf(nil, "k%02d", i), []byte("v"))
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Durable(); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, p.Record())
	}
	dst, g := openGated(t, t.TempDir(), testConfig())
	if err := dst.Replica().Append(recs); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Replica().Sync(); err != nil {
		t.Fatal(err)
	}
	dst.Admit(2) // the client is elected: its backlog is not applied (gated)
	done := make(chan error, 1)
	go func() {
		_, err := dst.Update(t.Context(), func(tx *Tx) error { return tx.Put("b", []byte("new"), []byte("v")) })
		done <- err
	}()
	// The transaction is waiting for the applier before Shut comes.
	testwait.For(t, 10*time.Second, "the transaction to wait for the backlog", func() bool { return dst.waiters.Load() > 0 })
	shut := make(chan lsn.LSN, 1)
	go func() { shut <- dst.Shut() }()
	select {
	case last := <-shut:
		if last != recs[len(recs)-1].LSN {
			t.Errorf("Shut reports the log ending at %s, want %s", last, recs[len(recs)-1].LSN)
		}
	case <-time.After(10 * time.Second):
		g.release()
		t.Fatal("Shut waited for the applier's backlog")
	}
	g.release()
	if err := <-done; !errors.Is(err, ErrNotWritable) {
		t.Fatalf("the transaction after Shut: %v, want ErrNotWritable", err)
	}
	// Admitted again, a transaction reads the former master's writes.
	dst.Admit(3)
	if _, err := dst.Update(t.Context(), func(tx *Tx) error {
		v, err := tx.Get("b", []byte("k49"))
		if err != nil || string(v) != "v" {
			return fmt.Errorf("k49 = %q, %v: the backlog is not visible", v, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
