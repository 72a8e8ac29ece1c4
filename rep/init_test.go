package rep

import (
	"errors"
	"fmt"
	"testing"

	"logship/wal/lsn"
)

// archivedHarness: site 3 misses 40 records, then the master archives
// the log it would need.
func archivedHarness(t *testing.T, opts ...func(SiteID, *Config)) *harness {
	h := newHarness(t, 3, opts...)
	h.group()
	h.put(1, "shared")
	h.stabilize()
	h.partition(1, 3)
	h.putN(1, 40, "while-away-")
	h.stabilize()
	h.archive(1, h.node(1).log.Last())
	h.heal()
	return h
}

func TestClientBehindArchivedLogIsRebuiltByInternalInit(t *testing.T) {
	h := archivedHarness(t, func(_ SiteID, c *Config) { c.InitChunkBytes = 100 })
	h.node(3).n.PeerUp(1)
	h.process(3)
	h.stabilize()
	h.requireDataEqual(1, 3)
	h.requireEvent(3, EventInitStarted)
	h.requireEvent(3, EventInitDone)
	h.requireEvent(3, EventStartupDone)
	s := h.node(3).n.Stats()
	if s.Inits != 1 || s.InitsDone != 1 || s.PagesRecv < 2 {
		t.Fatalf("stats %+v", s)
	}
	if st := h.node(3).n.Status(); st.InitDone != st.InitTotal || st.InitTotal == 0 {
		t.Fatalf("progress %d/%d", st.InitDone, st.InitTotal)
	}
	// Then it follows the live log.
	h.put(1, "after-init")
	h.stabilize()
	h.requireDataEqual(1, 3)
	if r := h.node(1).n.RetainLSN(); !r.IsZero() {
		t.Fatalf("master still retains %s after the client caught up", r)
	}
	if h.node(1).n.sv.snap != nil {
		t.Fatal("snapshot not released")
	}
}

func TestNoAutoInitGivesJoinFailure(t *testing.T) {
	h := archivedHarness(t, func(_ SiteID, c *Config) { c.NoAutoInit = true })
	h.node(3).n.PeerUp(1)
	h.process(3)
	h.stabilize()
	h.requireEvent(3, EventJoinFailure)
	st := h.node(3).status
	if !errors.Is(st.Err, ErrJoinFailure) || st.SyncState != SyncJoinFailed {
		t.Fatalf("status %+v", st)
	}
	if s := h.node(3).n.Stats(); s.Inits != 0 || s.JoinFailures != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestNewMasterWithoutSyncPointTriggersInit(t *testing.T) {
	h := newHarness(t, 2)
	h.group()
	h.put(1, "a")
	h.stabilize()
	h.partition(1, 2)
	b := h.put(1, "b")[0]
	h.stabilize()
	h.heal()
	h.archive(1, b.LSN) // "a" is gone from the master's log
	h.master(1)         // new generation: site 2 verifies "a", which is gone
	h.stabilize()
	h.requireEvent(2, EventInitDone)
	h.requireDataEqual(1, 2)
	if s := h.node(2).n.Stats(); s.Outdated != 1 {
		t.Fatalf("Outdated = %d", s.Outdated)
	}
}

func TestBrokenInitResumesFromLastChunk(t *testing.T) {
	h := archivedHarness(t, func(_ SiteID, c *Config) { c.InitChunkBytes = 64 })
	h.node(3).n.PeerUp(1)
	h.process(3)
	pages := 0
	h.drop = func(m Message) bool {
		if m.Type == MsgPage && m.To == 3 {
			pages++
			return pages > 3 // the link breaks after three chunks
		}
		return false
	}
	h.stabilize()
	got := h.node(3).n.Status().InitDone
	if got != 3*64 {
		t.Fatalf("received %d bytes before the break", got)
	}
	if r := h.node(1).n.RetainLSN(); r.IsZero() {
		t.Fatal("master does not retain the log for the init in progress")
	}
	h.drop = nil
	h.tick(DefaultConfig().RequestMinTicks)
	h.requireDataEqual(1, 3)
	var offsets []int64
	for _, m := range h.sent {
		if m.Type == MsgPageReq && m.From == 3 {
			offsets = append(offsets, m.Offset)
		}
	}
	// 0, 64, 128, 192 (lost answer) and the window asked ahead, then
	// 192 again: nothing received is asked twice.
	asked := map[int64]int{}
	for _, o := range offsets {
		asked[o]++
	}
	if asked[0] != 1 || asked[64] != 1 || asked[128] != 1 || asked[192] != 2 {
		t.Fatalf("chunk requests %v", offsets)
	}
	if s := h.node(1).n.Stats(); s.SnapshotsTaken != 1 {
		t.Fatalf("snapshots taken %d, want the one reused", s.SnapshotsTaken)
	}
}

// damagedLog is a LogReader whose record at bad cannot be read back.
type damagedLog struct {
	LogReader
	bad *lsn.LSN
}

func (l damagedLog) check(at lsn.LSN) error {
	if !l.bad.IsZero() && at == *l.bad {
		return fmt.Errorf("%w: record %s: checksum mismatch", ErrLogDamaged, at)
	}
	return nil
}

func (l damagedLog) Read(at lsn.LSN) (Record, error) {
	if err := l.check(at); err != nil {
		return Record{}, err
	}
	return l.LogReader.Read(at)
}

func (l damagedLog) Next(after lsn.LSN) (Record, error) {
	r, err := l.LogReader.Next(after)
	if err == nil {
		if err := l.check(r.LSN); err != nil {
			return Record{}, err
		}
	}
	return r, err
}

// A client that needs a record the master can no longer read back is
// served the records before it, then rebuilt by internal init, and ends
// with the master's data; the master keeps its role.
func TestDamagedMasterLogRebuildsClientByInit(t *testing.T) {
	var bad lsn.LSN
	h := newHarness(t, 2, func(id SiteID, c *Config) {
		c.InitChunkBytes = 100
		if id == 1 {
			c.Log = damagedLog{c.Log, &bad}
		}
	})
	h.group()
	h.put(1, "shared")
	h.stabilize()
	h.partition(1, 2)
	recs := h.put(1, "a", "b", "c", "d", "e")
	h.stabilize()
	bad = recs[2].LSN
	h.heal()
	h.node(2).n.PeerUp(1)
	h.process(2)
	h.stabilize()
	h.tick(200)
	h.stabilize()
	h.requireEvent(2, EventInitStarted)
	h.requireDataEqual(1, 2)
	if s := h.node(1).n.Stats(); s.LogDamaged == 0 {
		t.Fatalf("master stats: %+v", s)
	}
	if st := h.node(1).n.Status(); st.Role != RoleMaster {
		t.Fatalf("master lost its role: %+v", st)
	}
}

// TestDamagedSnapshotStartsInitOver: the first snapshot a client
// receives is found damaged at install (InstallFailed): no ACK of its
// position leaves, the client asks for a snapshot again, receives it
// from its start, installs it and ends with the master's data.
func TestDamagedSnapshotStartsInitOver(t *testing.T) {
	h := archivedHarness(t, func(_ SiteID, c *Config) { c.InitChunkBytes = 100 })
	hn := h.node(3)
	hn.badInstalls = 1
	before := hn.log.Last()
	hn.n.PeerUp(1)
	h.process(3)
	h.stabilize()
	if hn.badInstalls != 0 {
		t.Fatal("no install was attempted")
	}
	h.requireDataEqual(1, 3)
	if len(hn.installs) != 1 {
		t.Fatalf("%d installs carried out, want 1 (the second snapshot)", len(hn.installs))
	}
	s := hn.n.Stats()
	if s.Inits != 2 || s.InitsDone != 1 || s.InitsBadSnapshot != 1 {
		t.Fatalf("stats: inits %d, done %d, bad snapshots %d; want 2, 1, 1", s.Inits, s.InitsDone, s.InitsBadSnapshot)
	}
	if len(hn.badStatus) != 1 {
		t.Fatalf("%d damaged installs, want 1", len(hn.badStatus))
	}
	if st := hn.badStatus[0]; st.Last != before || st.Durable != before || st.SyncState != SyncInit {
		t.Fatalf("after the damaged install: last %s, durable %s, state %v; want %s, %s, init again",
			st.Last, st.Durable, st.SyncState, before, before)
	}
	// Until the good snapshot was installed, no ACK claimed more than
	// the log the client really had.
	for _, m := range hn.preInstall {
		if m.Type == MsgAck && before.Less(m.LSN) {
			t.Fatalf("site 3 acked %s before it installed a snapshot; its log ended at %s", m.LSN, before)
		}
	}
	h.put(1, "after-init")
	h.stabilize()
	h.requireDataEqual(1, 3)
}
