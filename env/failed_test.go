package env

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"logship/rep"
	"logship/wal/lsn"
	"logship/wal/vfs"
)

// A master whose log can no longer be written (a full disk) halts
// replication: it stops being master, its status says why, the others
// elect a master holding every permanent commit, and it neither acks
// nor syncs afterwards.
func TestFailedStorageHaltsReplication(t *testing.T) {
	net := newChanNet()
	ids := []SiteID{1, 2, 3}
	inj := map[SiteID]*vfs.Injector{}
	var s []*repSite
	for _, id := range ids {
		inj[id] = vfs.NewInjector(vfs.OS)
		s = append(s, startElectSiteWith(t, net, id, ids, t.TempDir(), func(e *Config, c *ReplicationConfig) {
			if e != nil {
				e.FS = inj[id]
			}
		}))
	}
	m := waitOneMaster(t, 10*time.Second, s)
	var perm []string
	for i := range 5 {
		k := fmt.Sprint("pre", i)
		if repPut(t, m.e, k, "v").Permanent {
			perm = append(perm, k)
		}
	}
	inj[m.id].Inject(vfs.Fault{Op: vfs.OpWrite, Err: syscall.ENOSPC})
	_, err := m.e.Update(t.Context(), func(tx *Tx) error { return tx.Put("b", []byte("full"), []byte("v")) })
	if err == nil {
		t.Fatal("a commit on a full disk succeeded")
	}
	failed := time.Now()
	nm := waitOneMaster(t, within, others(s, m))
	t.Logf("site %d master %v after site %d's disk filled", nm.id, time.Since(failed).Round(time.Millisecond), m.id)
	for _, k := range perm {
		if v, ok := viewGet(t, nm.e, "b", k); !ok || v != "v" {
			t.Fatalf("permanent %s lost on the new master", k)
		}
	}
	st := m.status(t)
	if st.Role == rep.RoleMaster || !st.StorageFailed || !errors.Is(st.Err, syscall.ENOSPC) {
		t.Fatalf("failed master's status: role %s storage failed %t err %v", st.Role, st.StorageFailed, st.Err)
	}
	es, err := m.e.ElectStatus()
	if err != nil || !es.Stalled {
		t.Fatalf("failed master's election state: %+v %v", es, err)
	}
	// It takes no further part: new commits do not reach it.
	before, _ := m.e.RepStats()
	for i := range 5 {
		repPut(t, nm.e, fmt.Sprint("post", i), "v")
	}
	time.Sleep(100 * time.Millisecond) // let any message that would reach it arrive
	after, _ := m.e.RepStats()
	if after.AcksSent != before.AcksSent || after.LogRecords != before.LogRecords {
		t.Fatalf("the failed site kept replicating: acks %d -> %d, records %d -> %d",
			before.AcksSent, after.AcksSent, before.LogRecords, after.LogRecords)
	}
}

// An internal init does not start writing a snapshot the disk cannot hold.
func TestInitRefusesSnapshotLargerThanTheDisk(t *testing.T) {
	e := openTest(t, t.TempDir(), testConfig())
	r := e.Replica()
	err := r.WriteChunk(rep.Chunk{Snap: rep.SnapInfo{ID: 1, Size: 1 << 62}, Data: []byte("x")})
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("WriteChunk of a 4 EiB snapshot: %v, want ErrNoSpace", err)
	}
}

// A damaged record in an old log file is reported as ErrLogDamaged,
// naming it, and the reader goes no further: serving that range once
// recursed without end and crashed the master.
func TestReplicaNextReportsDamagedRecord(t *testing.T) {
	e := openTest(t, t.TempDir(), testConfig())
	var toks []Token
	for i := range 150 {
		toks = append(toks, put(t, e, "b", fmt.Sprint("k", i), strings.Repeat("v", 1000)))
	}
	if toks[len(toks)-1].LSN.File < 3 {
		t.Fatalf("the log has only %d files", toks[len(toks)-1].LSN.File)
	}
	// Damage a record in the middle of file 1: flip a byte of its payload.
	var victim, prevTok Token
	for i, tok := range toks {
		if tok.LSN.File == 1 && tok.LSN.Offset > 20000 {
			victim, prevTok = tok, toks[i-1]
			break
		}
	}
	f, err := os.OpenFile(e.log.SegmentPath(1), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	off := int64(victim.LSN.Offset) + 100
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	f.Close()

	r := e.Replica()
	prev := prevTok.LSN
	// From well before it (a catch-up reading on), and from just before.
	for _, from := range []lsn.LSN{toks[0].LSN, prev} {
		at := from
		for range len(toks) {
			rec, err := r.Next(at)
			if err != nil {
				if !errors.Is(err, rep.ErrLogDamaged) || !strings.Contains(err.Error(), victim.LSN.String()) {
					t.Fatalf("Next(%s) = %v, want ErrLogDamaged naming %s", at, err, victim.LSN)
				}
				break
			}
			if rec.LSN == victim.LSN {
				t.Fatalf("the damaged record %s was served", victim.LSN)
			}
			at = rec.LSN
		}
		if at != prev {
			t.Fatalf("reading on from %s stopped at %s, want just before the damage (%s)", from, at, prev)
		}
	}
	// After the damaged record, it serves again.
	next := toks[slices.Index(toks, victim)+1]
	if rec, err := r.Next(next.LSN); err != nil || !next.LSN.Less(rec.LSN) {
		t.Fatalf("Next after the damage: %v %v", rec.LSN, err)
	}
}
