package env

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"logship/rep"
	"logship/wal/lsn"
)

// syncSite is one site driven synchronously through the Replica API, as
// the simulator drives it: no driver goroutine.
type syncSite struct {
	e *Env
	r *Replica
	n *rep.Node
}

type syncGroup struct {
	t     testing.TB
	sites map[rep.SiteID]*syncSite
	wire  []rep.Message
	down  map[rep.SiteID]bool
}

func newSyncGroup(t testing.TB, cfg Config, ids ...rep.SiteID) *syncGroup {
	g := &syncGroup{t: t, sites: map[rep.SiteID]*syncSite{}, down: map[rep.SiteID]bool{}}
	for _, id := range ids {
		g.open(cfg, id, ids)
	}
	return g
}

func (g *syncGroup) open(cfg Config, id rep.SiteID, ids []rep.SiteID) *syncSite {
	e := openTest(g.t, g.t.TempDir(), cfg)
	r := e.Replica()
	r.SetSite(uint64(id))
	rc := rep.DefaultConfig()
	rc.ID, rc.Priority, rc.Log = id, 1, r
	for _, o := range ids {
		if o != id {
			rc.Sites = append(rc.Sites, rep.Site{ID: o})
		}
	}
	n, err := rep.New(rc)
	if err != nil {
		g.t.Fatal(err)
	}
	s := &syncSite{e: e, r: r, n: n}
	g.sites[id] = s
	return s
}

// settle carries out every site's Ready and delivers messages until quiet.
func (g *syncGroup) settle() {
	g.t.Helper()
	for range 100000 {
		busy := false
		for _, s := range g.sites {
			for s.n.HasReady() {
				busy = true
				rd := s.n.Ready()
				err := s.r.CarryOut(context.Background(), rd, func(m rep.Message) {
					if !g.down[m.From] && !g.down[m.To] {
						g.wire = append(g.wire, m)
					}
				})
				var snap *TakenSnapshot
				if err == nil && rd.TakeSnapshot {
					snap, err = s.r.TakeSnapshot()
				}
				if err != nil {
					g.t.Fatalf("site %d: carry out: %v", s.n.Status().ID, err)
				}
				s.n.Advance(rd)
				if snap != nil {
					if err := s.n.SnapshotTaken(snap.Info, snap.Reader); err != nil {
						_ = s.r.ReleaseSnapshot(snap.Info.ID)
					}
				}
				if len(rd.Append) > 0 || len(rd.Commits) == 0 {
					at, err := s.r.Sync()
					if err != nil {
						g.t.Fatal(err)
					}
					s.n.Persisted(at)
				}
			}
		}
		if len(g.wire) > 0 {
			busy = true
			m := g.wire[0]
			g.wire = g.wire[1:]
			if err := g.sites[m.To].n.Step(m); err != nil {
				g.t.Fatal(err)
			}
		}
		if !busy {
			return
		}
	}
	g.t.Fatal("group did not settle")
}

func (g *syncGroup) commit(id rep.SiteID, key, value string) rep.Record {
	g.t.Helper()
	s := g.sites[id]
	s.r.Env().Admit(s.n.Status().Gen)
	p, err := s.r.Env().Append(context.Background(), func(tx *Tx) error { return tx.Put("b", []byte(key), []byte(value)) })
	if err != nil {
		g.t.Fatal(err)
	}
	rec := p.Record()
	if err := s.n.Appended([]rep.Record{rec}); err != nil {
		g.t.Fatal(err)
	}
	if _, err := p.Durable(); err != nil {
		g.t.Fatal(err)
	}
	s.n.Persisted(rec.LSN)
	return rec
}

// The Replica implements rep.LogReader over the env's wal: generations
// come from the record payload, checksums are the wal's, Next crosses
// files, and lookups outside the log map to rep's errors.
func TestReplicaLogReaderMapsWalAndGenerations(t *testing.T) {
	cfg := testConfig()
	cfg.LogFileSize = 16 << 10
	cfg.MaxValueSize = 1 << 10
	e := openTest(t, t.TempDir(), cfg)
	r := e.Replica()
	if _, err := r.Next(lsn.Zero); !errors.Is(err, rep.ErrNotFound) {
		t.Fatalf("Next(Zero) on an empty log: %v", err)
	}
	e.Admit(7)
	var recs []rep.Record
	for i := range 200 {
		p, err := e.Append(t.Context(), func(tx *Tx) error {
			return tx.Put("b", fmt.Appendf(nil, "k%03d", i), make([]byte, 200))
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Durable(); err != nil {
			t.Fatal(err)
		}
		rec := p.Record()
		if rec.Gen != 7 || !rec.Perm {
			t.Fatalf("commit record gen %d perm %t", rec.Gen, rec.Perm)
		}
		recs = append(recs, rec)
	}
	if recs[len(recs)-1].LSN.File < 3 {
		t.Fatalf("want several log files, last record at %s", recs[len(recs)-1].LSN)
	}
	prev := lsn.Zero
	for i, want := range recs {
		got, err := r.Next(prev)
		if err != nil {
			t.Fatalf("Next(%s): %v", prev, err)
		}
		if got.LSN != want.LSN || got.Checksum != want.Checksum || got.Gen != 7 {
			t.Fatalf("record %d: got %s/%08x, want %s/%08x", i, got.LSN, got.Checksum, want.LSN, want.Checksum)
		}
		if want.Checksum != rep.Checksum(7, want.Payload) {
			t.Fatalf("identity of %s is not rep.Checksum(gen, payload)", want.LSN)
		}
		if p, err := r.Prev(want.LSN); err != nil || p != prev {
			t.Fatalf("Prev(%s) = %s, %v; want %s", want.LSN, p, err, prev)
		}
		prev = got.LSN
	}
	if _, err := r.Next(prev); !errors.Is(err, rep.ErrNotFound) {
		t.Fatalf("Next past the end: %v", err)
	}
	if _, err := r.Read(lsn.New(1, 33)); !errors.Is(err, rep.ErrNotFound) {
		t.Fatalf("Read inside a record: %v", err)
	}
	if r.Last() != prev || r.First() != recs[0].LSN {
		t.Fatalf("First/Last = %s/%s", r.First(), r.Last())
	}
	if _, err := e.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.RemoveLogs(); err != nil {
		t.Fatal(err)
	}
	if r.First() == recs[0].LSN {
		t.Fatal("no log file removed")
	}
	if _, err := r.Next(lsn.Zero); !errors.Is(err, rep.ErrLogRemoved) {
		t.Fatalf("Next(Zero) after removal: %v", err)
	}
	if _, err := r.Read(recs[0].LSN); !errors.Is(err, rep.ErrLogRemoved) {
		t.Fatalf("Read of a removed record: %v", err)
	}
}

// Two sites driven synchronously through Replica (the simulator's way): a
// commit on the master is shipped, appended at the same LSN with the same
// checksum, acknowledged and reported permanent; the data converges.
func TestReplicaCarriesOutReadyForMasterAndClient(t *testing.T) {
	g := newSyncGroup(t, testConfig(), 1, 2)
	m, c := g.sites[1], g.sites[2]
	if err := m.n.BecomeMaster(1); err != nil {
		t.Fatal(err)
	}
	if err := c.n.BecomeClient(1, 1); err != nil {
		t.Fatal(err)
	}
	g.settle()
	var last rep.Record
	for i := range 50 {
		last = g.commit(1, fmt.Sprint("k", i), fmt.Sprint("v", i))
	}
	g.settle()
	if st := c.n.Status(); st.Durable != last.LSN || st.SyncState != rep.SyncReady {
		t.Fatalf("client status %+v, want durable %s", st, last.LSN)
	}
	got, err := c.r.Read(last.LSN)
	if err != nil || got.Checksum != last.Checksum || got.Gen != 1 {
		t.Fatalf("client record %+v, %v", got, err)
	}
	for _, e := range []*Env{m.e, c.e} {
		if err := e.WaitApplied(t.Context(), Token{LSN: last.LSN}); err != nil {
			t.Fatal(err)
		}
	}
	md, _ := dump(t, m.e)
	cd, _ := dump(t, c.e)
	if !equalData(md, cd) {
		t.Fatal(diffData(md, cd))
	}
	if s := m.n.Stats(); s.Perms != 50 {
		t.Fatalf("perms %d", s.Perms)
	}
}
