package rep

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
)

func TestClientThreeSegmentsBehindCatchesUpByLog(t *testing.T) {
	h := newHarness(t, 3)
	h.group()
	h.put(1, "shared")
	h.stabilize()
	h.partition(1, 3)
	h.putN(1, 40, "while-away-") // 256-byte segments: > 3 files
	h.stabilize()
	if f := h.node(1).log.Last().File - h.node(3).log.Last().File; f < 3 {
		t.Fatalf("site 3 only %d segments behind", f)
	}
	h.heal()
	h.node(3).n.PeerUp(1) // the transport reconnected
	h.process(3)
	h.stabilize()
	h.requireLogsEqual(1, 3)
	if s := h.node(3).n.Stats(); s.Inits != 0 || s.Rollbacks != 0 || s.LogRecords != 41 {
		t.Fatalf("stats %+v", s)
	}
}

func TestNewMasterSyncFindsSyncPointAndRollsBackUnackedTail(t *testing.T) {
	// Master 1 commits two records nobody receives, is deposed, and
	// rejoins as a client of the new master 2 (discard_test.go).
	h, lost := rolledBackHarness(t)
	h.requireLogsEqual(2, 1)
	h.requireLogsEqual(2, 3)
	rb := h.node(1).rollback
	if len(rb) != 2 || !sameRecord(rb[0], lost[0]) || !sameRecord(rb[1], lost[1]) {
		t.Fatalf("rollback file = %s", fmtLog(rb))
	}
	e := h.requireEvent(1, EventRollback)
	if !bytes.Equal(h.node(1).log.Records()[1].Payload, []byte("b")) || e.LSN != h.node(1).log.Records()[1].LSN {
		t.Fatalf("sync point %s", e.LSN)
	}
	s := h.node(1).n.Stats()
	if s.Rollbacks != 1 || s.VerifyRequests != 3 || s.SyncPoint != e.LSN {
		t.Fatalf("stats: rollbacks %d verify %d sync point %s", s.Rollbacks, s.VerifyRequests, s.SyncPoint)
	}
	h.requireEvent(1, EventStartupDone)
}

func TestClientInSyncWithNewMasterNeedsNoRollback(t *testing.T) {
	h := newHarness(t, 3)
	h.group()
	h.put(1, "a", "b")
	h.stabilize()
	h.master(2)
	h.client(1, 2)
	h.client(3, 2)
	h.stabilize()
	h.put(2, "c")
	h.stabilize()
	for _, id := range []SiteID{1, 3} {
		h.requireLogsEqual(2, id)
		if s := h.node(id).n.Stats(); s.Rollbacks != 0 || s.VerifyRequests != 1 {
			t.Fatalf("site %d: rollbacks %d verify %d", id, s.Rollbacks, s.VerifyRequests)
		}
	}
}

func TestWarmReconnectResendsNoAcknowledgedBytes(t *testing.T) {
	h := newHarness(t, 2)
	h.group()
	h.putN(1, 10, "before-")
	h.stabilize()
	h.partition(1, 2)
	h.node(1).n.PeerDown(2)
	h.node(2).n.PeerDown(1)
	h.process(1)
	h.process(2)
	h.requireEvent(2, EventConnectBroken)
	h.putN(1, 3, "during-")
	h.stabilize()
	h.heal()
	before := h.node(1).n.Stats()
	h.node(1).n.PeerUp(2)
	h.node(2).n.PeerUp(1)
	h.process(1)
	h.process(2)
	h.stabilize()
	h.requireLogsEqual(1, 2)
	d := h.node(1).n.Stats().Sub(before)
	if d.LogRecordsSent != 3 || d.LogBytesSent != uint64(3*len("during-0")) {
		t.Fatalf("resent %d records / %d bytes, want only the 3 new ones", d.LogRecordsSent, d.LogBytesSent)
	}
	if s := h.node(2).n.Stats(); s.VerifyRequests != 0 || s.Syncs != 1 {
		t.Fatalf("warm resume verified: %+v", s)
	}
}

func TestWarmBecomeClientSameMasterSameGenSkipsVerify(t *testing.T) {
	h := newHarness(t, 2)
	h.group()
	h.putN(1, 5, "x")
	h.stabilize()
	h.client(2, 1)
	h.stabilize()
	if s := h.node(2).n.Stats(); s.Syncs != 1 || s.VerifyRequests != 0 || s.LogDuplicated != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestDelayedClientStaysBehindUntilSync(t *testing.T) {
	h := newHarness(t, 3, func(id SiteID, c *Config) { c.DelayClient = id == 3 })
	h.group()
	h.requireEvent(3, EventSyncDelayed)
	if st := h.node(3).n.Status(); st.SyncState != SyncDelayed || st.Lockout {
		t.Fatalf("status %+v", st)
	}
	h.put(1, "a", "b")
	h.stabilize()
	if len(h.node(3).log.Records()) != 0 {
		t.Fatal("delayed client applied records before Sync")
	}
	if err := h.node(3).n.Sync(); err != nil {
		t.Fatal(err)
	}
	h.process(3)
	h.stabilize()
	h.requireLogsEqual(1, 3)
	h.requireEvent(3, EventStartupDone)
}

func TestSyncingClientReportsLockout(t *testing.T) {
	h := newHarness(t, 2, func(_ SiteID, c *Config) { c.NoWait = true })
	h.group()
	h.put(1, "a")
	h.stabilize()
	h.master(2)
	h.client(1, 2) // sends VERIFY_REQ; not yet answered
	st := h.node(1).status
	if !st.Lockout || st.SyncState != SyncVerify || !st.NoWait {
		t.Fatalf("status during verify %+v", st)
	}
	h.stabilize()
	if st := h.node(1).status; st.Lockout || st.SyncState != SyncReady {
		t.Fatalf("status after sync %+v", st)
	}
}

func TestNewMasterAnnouncementIsFollowed(t *testing.T) {
	h := newHarness(t, 3)
	h.group()
	h.put(1, "a")
	h.stabilize()
	h.master(2) // NEWMASTER of gen 2 reaches 1 and 3
	h.stabilize()
	for _, id := range []SiteID{1, 3} {
		if st := h.node(id).n.Status(); st.Role != RoleClient || st.Master != 2 || st.Gen != 2 {
			t.Fatalf("site %d: %+v", id, st)
		}
	}
	h.requireEvent(1, EventDupMaster)
	h.put(2, "b")
	h.stabilize()
	h.requireLogsEqual(2, 1)
	h.requireLogsEqual(2, 3)
}

func TestStaleGenerationMessagesAreDropped(t *testing.T) {
	h := newHarness(t, 2)
	h.group()
	h.master(2)
	h.stabilize()
	h.node(1).n.Step(Message{V: Version, Type: MsgLog, From: 2, To: 1, Gen: 1})
	if s := h.node(1).n.Stats(); s.MsgsBadGen != 1 {
		t.Fatalf("MsgsBadGen = %d", s.MsgsBadGen)
	}
	if err := h.node(1).n.BecomeClient(2, 1); err == nil {
		t.Fatal("BecomeClient to an older generation succeeded")
	}
}

// Two masters of one generation (two sites started as master by hand):
// both report DupMaster; the one told to yield follows the other at the
// same generation, and its divergent commit is rolled back.
func TestDupMasterSameGenerationYields(t *testing.T) {
	h := newHarness(t, 2)
	h.group()
	h.put(1, "a")
	h.stabilize()
	// Site 2 also claims gen 1 and commits on its own.
	if err := h.node(2).n.BecomeMaster(h.gen + 1); err != nil {
		t.Fatal(err)
	}
	h.gen++
	if err := h.node(1).n.BecomeMaster(h.gen); err != nil {
		t.Fatal(err)
	}
	h.process(1)
	h.process(2)
	h.put(1, "only-on-1")
	h.put(2, "only-on-2")
	h.stabilize()
	h.requireEvent(1, EventDupMaster)
	h.requireEvent(2, EventDupMaster)
	if err := h.node(1).n.BecomeClient(1, h.gen); err == nil {
		t.Fatal("a master became a client of itself")
	}
	if err := h.node(1).n.BecomeClient(2, h.gen); err != nil {
		t.Fatalf("yielding to a duplicate master of the same generation: %v", err)
	}
	h.process(1)
	h.stabilize()
	if st := h.node(1).n.Status(); st.Role != RoleClient || st.Master != 2 || st.Gen != h.gen {
		t.Fatalf("site 1 after yielding: %+v", st)
	}
	h.requireEvent(1, EventRollback)
	h.put(2, "b")
	h.stabilize()
	h.requireLogsEqual(2, 1)
}

// A deposed master whose tail runs far past the new master's log asks
// only about records the new master's log reaches: the rest it steps
// over unasked, and still rolls all of it back.
func TestLongDivergedTailPastTheMastersEndCostsOneQuestion(t *testing.T) {
	var payloads []string
	for i := range 30 {
		payloads = append(payloads, fmt.Sprintf("lost-%02d", i))
	}
	h, lost := divergedHarness(t, payloads)

	h.requireLogsEqual(2, 1)
	if !slices.EqualFunc(h.node(1).rollback, lost, sameRecord) {
		t.Fatalf("rollback file = %s, want the 30 lost records", fmtLog(h.node(1).rollback))
	}
	// The first question is about our last record; the master's answer
	// names its log end, so the second is about our last record not past
	// it, and so on until one matches: a handful, not one per lost record.
	s := h.node(1).n.Stats()
	if s.VerifyRequests > 4 || s.VerifySkipped == 0 || s.Rollbacks != 1 {
		t.Fatalf("verify requests %d, skipped %d, rollbacks %d: want a few requests for 30 lost records", s.VerifyRequests, s.VerifySkipped, s.Rollbacks)
	}
	t.Logf("30 lost records: %d VERIFY_REQ, %d records stepped over", s.VerifyRequests, s.VerifySkipped)
}
