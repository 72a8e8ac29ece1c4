package rep

import (
	"errors"
	"slices"
	"testing"

	"logship/wal/lsn"
)

// deposedHarness: master 1 commits "a" (on every site), then, cut off,
// two records nobody receives; site 2 becomes master, writes enough to
// fill several segments, and archives its whole log. Site 1 then has a
// divergent tail the new master cannot verify: it needs internal init.
func deposedHarness(t *testing.T, opts ...func(SiteID, *Config)) (h *harness, shared Record, lost []Record) {
	h = newHarness(t, 3, opts...)
	h.group()
	shared = h.put(1, "a")[0]
	h.stabilize()
	h.partition(1, 2)
	h.partition(1, 3)
	lost = h.put(1, "lost1", "lost2")
	h.stabilize()
	h.master(2)
	h.client(3, 2)
	h.stabilize()
	h.putN(2, 20, "new-")
	h.stabilize()
	h.archive(2, h.node(2).log.Last())
	h.heal()
	return h, shared, lost
}

func TestInitKeepsTheFormerMastersDivergentTailInTheRollbackFile(t *testing.T) {
	h, shared, lost := deposedHarness(t)
	h.client(1, 2)
	h.stabilize()
	h.requireEvent(1, EventInitDone)
	h.requireDataEqual(2, 1)
	hn := h.node(1)
	if len(hn.installs) != 1 || hn.installs[0].Discard != shared.LSN {
		t.Fatalf("installs %+v, want one discarding after the committed %s", hn.installs, shared.LSN)
	}
	// Exactly the records the new master may not hold: the committed
	// "a" is in every later master's history and is not kept.
	if !slices.EqualFunc(hn.rollback, lost, sameRecord) {
		t.Fatalf("rollback file = %s, want %s", fmtLog(hn.rollback), fmtLog(lost))
	}
	// They lie at or below the snapshot's LSN: the master's records
	// there differ, and the install would have hidden them.
	if snap := hn.installs[0].Snap.LSN; snap.Less(lost[1].LSN) {
		t.Fatalf("snapshot %s is before the lost records: the test does not cover records under the snapshot", snap)
	}
	if e := h.requireEvent(1, EventRollback); e.LSN != shared.LSN {
		t.Fatalf("rollback event at %s, want %s", e.LSN, shared.LSN)
	}
	if s := hn.n.Stats(); s.InitDiscards != 1 || s.Outdated != 1 {
		t.Fatalf("stats: init discards %d, outdated %d", s.InitDiscards, s.Outdated)
	}
}

// restartAsClientOf2 restarts deposedHarness's site 1 with cfg as a
// client of the new master 2, and lets it sync.
func restartAsClientOf2(t *testing.T, h *harness, cfg Config) {
	t.Helper()
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.node(1).n = n
	h.client(1, 2)
	h.stabilize()
	h.requireDataEqual(2, 1)
}

// A site that restarted knows no commit point: it cannot tell which of
// its records the master holds, so it keeps every record of its log.
func TestRestartedSiteKeepsItsWholeLogWhenInitialised(t *testing.T) {
	h, shared, lost := deposedHarness(t)
	hn := h.node(1)
	restartAsClientOf2(t, h, hn.n.cfg)
	want := append([]Record{shared}, lost...)
	if !slices.EqualFunc(hn.rollback, want, sameRecord) {
		t.Fatalf("rollback file = %s, want the whole log %s", fmtLog(hn.rollback), fmtLog(want))
	}
	if len(hn.installs) != 1 || !hn.installs[0].Discard.IsZero() {
		t.Fatalf("installs %+v, want Discard zero (everything)", hn.installs)
	}
}

// A site that restarted with the commit point it knew (Status.Shared,
// kept by its driver, given back as Config.Shared) discards only the
// records after it, as if it had not restarted, and so stays within a
// MaxRollbackBytes that its whole log would exceed.
func TestRestartedSiteWithKeptSharedDiscardsOnlyItsOwn(t *testing.T) {
	h, shared, lost := deposedHarness(t)
	hn := h.node(1)
	kept := hn.n.Status().Shared
	if kept != shared.LSN {
		t.Fatalf("Status.Shared = %s, want the committed %s", kept, shared.LSN)
	}
	var own int64
	for _, r := range lost {
		own += int64(r.size())
	}
	cfg := hn.n.cfg
	cfg.Shared, cfg.MaxRollbackBytes = kept, own // the whole log is over it
	restartAsClientOf2(t, h, cfg)
	if !slices.EqualFunc(hn.rollback, lost, sameRecord) {
		t.Fatalf("rollback file = %s, want %s", fmtLog(hn.rollback), fmtLog(lost))
	}
	if len(hn.installs) != 1 || hn.installs[0].Discard != shared.LSN {
		t.Fatalf("installs %+v, want one discarding after %s", hn.installs, shared.LSN)
	}
	if s := hn.n.Stats(); s.RollbacksRefused != 0 {
		t.Fatalf("refused %d", s.RollbacksRefused)
	}
}

// A kept shared record past the log's end (the log lost its tail, say)
// counts as the log's end.
func TestKeptSharedPastTheLogIsItsEnd(t *testing.T) {
	h := newHarness(t, 1)
	hn := h.node(1)
	cfg := hn.n.cfg
	cfg.Shared = lsn.New(9, 9)
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Status().Shared; got != hn.log.Last() {
		t.Fatalf("Status.Shared = %s, want the log's end %s", got, hn.log.Last())
	}
}

// A client whose log is a prefix of the master's discards nothing.
func TestLaggingClientInitDiscardsNothing(t *testing.T) {
	h := archivedHarness(t)
	h.node(3).n.PeerUp(1)
	h.process(3)
	h.stabilize()
	h.requireDataEqual(1, 3)
	hn := h.node(3)
	if len(hn.installs) != 1 || len(hn.rollback) != 0 {
		t.Fatalf("installs %+v, rollback file %s: want one install keeping nothing", hn.installs, fmtLog(hn.rollback))
	}
	if h.hasEvent(3, EventRollback) || hn.n.Stats().InitDiscards != 0 {
		t.Fatal("an init that discards nothing reported a rollback")
	}
}

func requireRefused(t *testing.T, hn *hnode) {
	t.Helper()
	st := hn.n.Status()
	if st.SyncState != SyncRollbackRefused || !errors.Is(st.Err, ErrRollbackRefused) {
		t.Fatalf("status %v, err %v: want rollback_refused", st.SyncState, st.Err)
	}
	if s := hn.n.Stats(); s.RollbacksRefused != 1 || s.Rollbacks != 0 || s.InitsDone != 0 {
		t.Fatalf("stats: refused %d, rollbacks %d, inits done %d", s.RollbacksRefused, s.Rollbacks, s.InitsDone)
	}
	if len(hn.rollback) != 0 || len(hn.installs) != 0 {
		t.Fatalf("discarded while refused: rollback %s, installs %+v", fmtLog(hn.rollback), hn.installs)
	}
}

func TestRollbackLimitRefusesInitDiscardUntilAllowed(t *testing.T) {
	h, _, lost := deposedHarness(t, func(_ SiteID, c *Config) { c.MaxRollbackBytes = 30 })
	h.client(1, 2)
	h.stabilize()
	hn := h.node(1)
	requireRefused(t, hn)
	if e := h.requireEvent(1, EventRollbackRefused); e.Site != 2 {
		t.Fatalf("refused event %v", e)
	}
	if h.count(MsgUpdateReq, 1, 0) != 0 {
		t.Fatal("a refused init still asked for a snapshot")
	}
	if last := hn.log.Last(); last != lost[1].LSN {
		t.Fatalf("log ends at %s, want the untouched tail %s", last, lost[1].LSN)
	}
	// Nothing more happens on its own.
	h.tick(500)
	requireRefused(t, hn)

	if err := hn.n.AllowRollback(); err != nil {
		t.Fatal(err)
	}
	h.process(1)
	h.stabilize()
	h.requireDataEqual(2, 1)
	if !slices.EqualFunc(hn.rollback, lost, sameRecord) {
		t.Fatalf("rollback file = %s, want %s", fmtLog(hn.rollback), fmtLog(lost))
	}
	if st := hn.n.Status(); st.SyncState != SyncReady || st.Err != nil {
		t.Fatalf("after allow: %v %v", st.SyncState, st.Err)
	}
	if s := hn.n.Stats(); s.RollbacksAllowed != 1 {
		t.Fatalf("allowed %d", s.RollbacksAllowed)
	}
}

// rolledBackHarness is sync_test's deposed master whose unacked tail the
// new master still has the sync point for: a plain rollback.
func rolledBackHarness(t *testing.T, opts ...func(SiteID, *Config)) (*harness, []Record) {
	return divergedHarness(t, []string{"lost1", "lost2"}, opts...)
}

// divergedHarness is rolledBackHarness with the payloads master 1
// commits alone.
func divergedHarness(t *testing.T, payloads []string, opts ...func(SiteID, *Config)) (*harness, []Record) {
	h := newHarness(t, 3, opts...)
	h.group()
	h.put(1, "a", "b")
	h.stabilize()
	h.partition(1, 2)
	h.partition(1, 3)
	lost := h.put(1, payloads...)
	h.stabilize()
	h.master(2)
	h.client(3, 2)
	h.stabilize()
	h.put(2, "c")
	h.stabilize()
	h.heal()
	h.client(1, 2)
	h.stabilize()
	return h, lost
}

func TestRollbackLimitRefusesSyncPointRollbackUntilAllowed(t *testing.T) {
	h, lost := rolledBackHarness(t, func(_ SiteID, c *Config) { c.MaxRollbackBytes = 30 })
	hn := h.node(1)
	requireRefused(t, hn)
	if err := hn.n.AllowRollback(); err != nil {
		t.Fatal(err)
	}
	h.process(1)
	h.stabilize()
	h.requireLogsEqual(2, 1)
	if !slices.EqualFunc(hn.rollback, lost, sameRecord) {
		t.Fatalf("rollback file = %s, want %s", fmtLog(hn.rollback), fmtLog(lost))
	}
	// The allowance was used up: the next oversized rollback is refused
	// again.
	if hn.n.allowRollback {
		t.Fatal("AllowRollback still pending after the rollback it allowed")
	}
}

func TestRollbackWithinLimitProceeds(t *testing.T) {
	// lost1 and lost2 count 5+24 bytes each.
	h, lost := rolledBackHarness(t, func(_ SiteID, c *Config) { c.MaxRollbackBytes = 58 })
	h.requireLogsEqual(2, 1)
	if rb := h.node(1).rollback; !slices.EqualFunc(rb, lost, sameRecord) {
		t.Fatalf("rollback file = %s", fmtLog(rb))
	}
	if s := h.node(1).n.Stats(); s.RollbacksRefused != 0 {
		t.Fatalf("refused %d", s.RollbacksRefused)
	}
}

func TestAllowRollbackWithNothingRefused(t *testing.T) {
	h := newHarness(t, 2)
	h.group()
	if err := h.node(2).n.AllowRollback(); !errors.Is(err, ErrNoRollbackRefused) {
		t.Fatalf("client: %v", err)
	}
	if err := h.node(1).n.AllowRollback(); !errors.Is(err, ErrNotClient) {
		t.Fatalf("master: %v", err)
	}
}

func TestMaxRollbackBytesMustNotBeNegative(t *testing.T) {
	c := DefaultConfig()
	c.ID, c.Log, c.MaxRollbackBytes = 1, NewMemLog(256), -1
	if err := c.Validate(); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("Validate: %v", err)
	}
}

// discardPoint never claims more than the walk back found: a record
// found different moves it below that record, even below the commit
// point the site thought it knew.
func TestDiscardPointBelowARecordFoundDifferent(t *testing.T) {
	h := newHarness(t, 1)
	n := h.node(1).n
	recs := []Record{h.node(1).log.Append(1, []byte("x")), h.node(1).log.Append(1, []byte("y"))}
	n.last = recs[1].LSN
	n.shared = recs[1].LSN
	n.c.state = SyncVerify
	if d := n.discardPoint(); d != recs[1].LSN {
		t.Fatalf("discard point %s, want %s", d, recs[1].LSN)
	}
	n.c.diverged, n.c.divergedBelow = true, recs[0].LSN
	if d := n.discardPoint(); d != recs[0].LSN {
		t.Fatalf("discard point %s, want %s", d, recs[0].LSN)
	}
	n.c.divergedBelow = lsn.Zero
	if d := n.discardPoint(); !d.IsZero() {
		t.Fatalf("discard point %s, want zero", d)
	}
}
