package sim

// Driving the site core.
//
// Each site's sitecore.Core is driven as the replication runtime's loop
// drives it (env/site: Site.process, Site.carryOut): its Ready carried
// out in the contract's order through the site's Storage (the fence:
// Shut, Advance, then Fenced; Admit; the rollback of raced local commits;
// the election state persisted; rep's work through env.Replica.CarryOut;
// elect's messages; commit results; events), then Advance, the snapshot
// handed over, and a sync when records were appended. A storage that
// fails halts the core (sitecore.Core.Halt), as the runtime's
// checkFailed does.

import (
	"errors"
	"fmt"

	"logship/elect"
	"logship/env"
	"logship/internal/sitecore"
	"logship/rep"
	"logship/rep/transport"
	"logship/wal/lsn"
)

// process carries out the site's Ready until it has none.
func (s *Sim) process(m *member) {
	for range 1000 {
		if !m.up() || !m.core.HasReady() {
			return
		}
		rd := m.core.Ready()
		if rd.Empty() {
			s.must(errors.New("HasReady disagrees with Ready"), "site %d", m.id)
		}
		if !s.carryOut(m, rd) {
			return // halted; the runtime tries again on its next turn, and so do we
		}
	}
	s.must(errors.New("Ready never drained"), "site %d", m.id)
}

// carryOut carries out one Ready; false when the storage failed.
func (s *Sim) carryOut(m *member, rd sitecore.Ready) bool {
	c := m.core
	if a := rd.Admit; a != nil && !a.Open {
		last := m.store.Shut()
		s.tracef("site %d shuts local commits out; log ends at %s", m.id, last)
		c.Advance(rd)
		c.Fenced(last)
		return true
	}
	if a := rd.Admit; a != nil {
		m.store.Admit(a.Gen)
		s.tracef("site %d admits local commits at generation %d", m.id, a.Gen)
	}
	if rb := rd.Rollback; rb != nil {
		s.tracef("site %d rolls back local commits raced by a role change: to %s from %s", m.id, rb.To, rb.From)
		rolled, _, err := m.store.Carry(rep.Ready{Rollback: rb}, nil)
		if err != nil {
			return s.storageFailed(m, "rolling back raced local commits", err)
		}
		s.rolledBack(m, rolled)
	}
	if rd.State != nil {
		s.persist(m, *rd.State)
	}
	var snap *Snap
	if !m.witness {
		if rb := rd.Rep.Rollback; rb != nil {
			s.tracef("site %d rollback to %s from %s", m.id, rb.To, rb.From)
		}
		if in := rd.Rep.Install; in != nil {
			s.tracef("site %d install snap@%s discard after %s", m.id, in.Snap.LSN, in.Discard)
			s.checkDiscard(m, in.Discard)
		}
		// After the heal, at most one damaged snapshot in a row: a
		// site halted then would not be restarted.
		if rd.Rep.Install != nil && !m.halted && (!s.heal || m.badSnaps == 0) && s.badRng.Float64() < s.f.BadSnapshot {
			m.store.DamageNextInstall()
		}
		rolled, sn, err := m.store.Carry(rd.Rep, func(msg rep.Message) { s.sendRep(m, msg) })
		if err != nil && rd.Rep.Install != nil && errors.Is(err, env.ErrBadSnapshot) && !m.halted {
			s.rolledBack(m, rolled)
			return s.installFailed(m, rd, err)
		}
		if err != nil {
			return s.storageFailed(m, "carrying out replication", err)
		}
		if rd.Rep.Install != nil {
			m.badSnaps = 0
		}
		s.rolledBack(m, rolled)
		snap = sn
	}
	voted := false
	for _, em := range rd.ElectMessages {
		if em.Type == elect.MsgVote2 {
			voted = true
			if hs := s.hard[m.id]; hs.EGen != em.EGen || hs.VotedFor != em.To {
				s.violate("site %d sends VOTE2 to %d in election %d, but its persisted state is EGen %d VotedFor %d",
					m.id, em.To, em.EGen, hs.EGen, hs.VotedFor)
			}
		}
		s.sendElect(m, em)
	}
	for _, cr := range rd.Rep.Commits {
		s.commitResult(m, cr)
	}
	for _, cr := range rd.Rejected {
		s.commitResult(m, cr)
	}
	for _, ev := range rd.Rep.Events {
		s.tracef("site %d event %s", m.id, ev)
		if ev.Type == rep.EventInitStarted {
			s.res.Inits++
		}
	}
	for _, ev := range rd.ElectEvents {
		s.tracef("site %d elect %s", m.id, ev)
		s.electEvent(m, ev)
	}
	for _, err := range rd.Errors {
		s.violate("site %d: %v", m.id, err)
	}
	if st := rd.Rep.Status; st != nil {
		s.repStatus(m, *st)
	}
	if st := rd.Rep.Status; st != nil && !m.witness {
		m.store.KeepShared(st.Shared) // as the runtime's publish does
	}
	c.Advance(rd)
	s.noteMembers(m, rd.Rep.Append, rd.Rollback != nil || rd.Rep.Rollback != nil || rd.Rep.Install != nil)
	if snap != nil {
		// The runtime takes snapshots off its loop and hands them to
		// the core when done: the site goes on meanwhile.
		s.tracef("site %d snapshot@%s", m.id, snap.Info.LSN)
		m.snaps = append(m.snaps, pendingSnap{snap: snap, due: s.now + s.rng.IntN(snapDelayTicks)})
	}
	if len(rd.Rep.Append) > 0 && (s.heal || s.rng.Float64() < s.f.Sync) {
		s.sync(m)
	}
	if voted && !s.heal && s.rng.Float64() < s.f.VoterCrash && !containsMember(s.crashSoon, m) {
		s.crashSoon = append(s.crashSoon, m)
	}
	return true
}

func containsMember(ms []*member, m *member) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

// repStatus takes rep's new status: a status error is a violation
// (but for the init given up after injected damaged snapshots), and a
// site that became master of a generation is checked (elected).
func (s *Sim) repStatus(m *member, st rep.Status) {
	prev := m.status
	m.status = st
	given := m.fault == faultBadSnapshots && errors.Is(st.Err, env.ErrBadSnapshot)
	if err := st.Err; err != nil && !given && (prev.Err == nil || prev.Err.Error() != err.Error()) {
		s.violate("site %d: status error %v", m.id, err)
	}
	if st.Role == rep.RoleMaster && (prev.Role != rep.RoleMaster || prev.Gen != st.Gen) {
		s.note("site %d storage:%s", m.id, m.store.Describe())
		s.elected(m, st.Gen)
	}
}

// sync makes the site's log durable and tells the core.
func (s *Sim) sync(m *member) {
	if m.halted || !m.up() {
		return
	}
	d, err := m.store.Sync()
	if err != nil {
		s.storageFailed(m, "syncing the log", err)
		return
	}
	m.core.Persisted(d)
	s.process(m)
}

// installFailed drops a snapshot found damaged at install and starts
// the init over, as the runtime's Site does (env/site/install.go): the
// election messages of rd are sent, the rest of its replication effects
// are not, and the third damaged snapshot in a row halts the site.
func (s *Sim) installFailed(m *member, rd sitecore.Ready, err error) bool {
	m.badSnaps++
	s.res.BadSnapshots++
	// The error's detail (the checksums) depends on the bytes of the
	// snapshot file, which bbolt lays out as the applier's batches fell
	// in real time: it goes to the trace only, not to its hash.
	s.tracef("site %d: snapshot damaged", m.id)
	s.note("site %d: %v", m.id, err)
	for _, em := range rd.ElectMessages {
		s.sendElect(m, em)
	}
	for _, cr := range rd.Rep.Commits {
		s.commitResult(m, cr)
	}
	for _, cr := range rd.Rejected {
		s.commitResult(m, cr)
	}
	for _, ev := range rd.ElectEvents {
		s.electEvent(m, ev)
	}
	for _, err := range rd.Errors {
		s.violate("site %d: %v", m.id, err)
	}
	if m.badSnaps >= maxBadSnapshots {
		m.fault = faultBadSnapshots // injected: the halt is expected
		m.core.InstallFailed(rd, m.store.Log().Last(), m.store.Durable(), err)
		return s.storageFailed(m, "installing a snapshot", err)
	}
	m.core.InstallFailed(rd, m.store.Log().Last(), m.store.Durable(), nil)
	s.noteMembers(m, nil, true)
	return true
}

// faultBadSnapshots is member.fault for a site halted by damaged
// snapshots the run injected.
const faultBadSnapshots = "damaged snapshots"

// maxBadSnapshots is env/site's: the damaged snapshots in a row a site
// takes before it halts.
const maxBadSnapshots = 3

// storageFailed halts a site whose storage failed, as the runtime does.
// Only an injected fault may fail a storage: any other failure ends the
// run.
func (s *Sim) storageFailed(m *member, what string, err error) bool {
	if m.store.Failure() == nil && !m.faulted() {
		s.must(err, "site %d: %s", m.id, what)
	}
	m.store.Fail(fmt.Errorf("%s: %w", what, err))
	s.halt(m, fmt.Sprintf("%s: %v", what, err))
	return false
}

// faulted reports whether a fault was injected in the site's storage
// since it last started.
func (m *member) faulted() bool { return m.fault != "" }

// halt halts the site's core for good (until the run restarts it,
// repaired): a master steps down, a client stops syncing.
func (s *Sim) halt(m *member, why string) {
	if m.halted {
		return
	}
	m.halted = true
	s.tracef("site %d storage failed (%s); halts", m.id, m.fault)
	s.note("site %d: %s", m.id, why)
	m.core.Halt()
	if !s.heal {
		s.restartAt[m.id] = s.now + 20 + s.rng.IntN(100)
	}
	s.process(m)
}

// snapDelayTicks bounds how long a snapshot takes to reach the core.
const snapDelayTicks = 40

// pendingSnap is a snapshot being taken off the loop, due at a tick.
type pendingSnap struct {
	snap *Snap
	due  int
}

// deliverSnaps hands the core the snapshots due by now.
func (s *Sim) deliverSnaps(m *member) {
	if len(m.snaps) == 0 {
		return
	}
	kept := m.snaps[:0]
	for _, p := range m.snaps {
		if p.due > s.now {
			kept = append(kept, p)
			continue
		}
		s.tracef("site %d snapshot@%s taken", m.id, p.snap.Info.LSN)
		if err := m.core.SnapshotTaken(p.snap.Info, p.snap.Reader); err != nil {
			m.store.Release(p.snap.Info.ID)
		}
	}
	m.snaps = kept
	s.process(m)
}

// duties are what the runtime does on each tick beside ticking the core:
// the storage-failure watch, a transfer's catch-up check, the lease reads
// waiting for the commit point, and (for the checks) the commit point.
func (s *Sim) duties(m *member) {
	if !m.up() || m.witness {
		return
	}
	if !m.halted && m.store.Failure() != nil {
		s.halt(m, "the environment failed: "+m.store.Failure().Error())
	}
	s.checkTransfer(m)
	s.finishLeaseReads(m)
	s.noteCommitPoint(m)
	s.memberDuties(m)
}

// sendRep and sendElect put a message on the network as the runtime
// does (sitecore.Encode, sitecore.EncodeElect). A muted site's messages,
// and messages to it, are lost without a trace.
func (s *Sim) sendRep(m *member, msg rep.Message) {
	b, err := sitecore.Encode(msg)
	if err != nil {
		s.violate("site %d: Encode(%s): %v", m.id, msg, err)
		return
	}
	s.send(m, msg.To, b)
}

func (s *Sim) sendElect(m *member, msg elect.Message) {
	b, err := sitecore.EncodeElect(msg)
	if err != nil {
		s.violate("site %d: EncodeElect(%s): %v", m.id, msg, err)
		return
	}
	s.send(m, rep.SiteID(msg.To), b)
}

func (s *Sim) send(m *member, to rep.SiteID, body []byte) {
	if s.muted(m.id) || s.muted(to) {
		return
	}
	m.ep.Send(transport.ID(to), body) // lost if not connected: the protocols retransmit
}

func (s *Sim) muted(id rep.SiteID) bool {
	return id != 0 && int(id) <= len(s.sites) && s.site(id).mutedTill > s.now
}

// persist is the stable store: it keeps hs across the site's crashes,
// and checks that no site ever votes twice in one election generation,
// nor goes back to an older one.
func (s *Sim) persist(m *member, hs elect.HardState) {
	prev := s.hard[m.id]
	if hs.EGen < prev.EGen {
		s.violate("site %d persisted election generation %d after %d", m.id, hs.EGen, prev.EGen)
	}
	if prev.Electability != elect.ElectabilityUnknown && hs.Electability != prev.Electability {
		s.violate("site %d persisted electability %s after %s: it is fixed at the first start", m.id, hs.Electability, prev.Electability)
	}
	if hs.VotedFor != 0 {
		k := voteKey{m.id, hs.EGen}
		if v, ok := s.votes[k]; ok && v != hs.VotedFor {
			s.violate("site %d voted twice in election %d: for site %d, then for site %d", m.id, hs.EGen, v, hs.VotedFor)
		}
		s.votes[k] = hs.VotedFor
	}
	s.hard[m.id] = hs
	s.tracef("site %d persist egen=%d voted=%d promised=%d", m.id, hs.EGen, hs.VotedFor, hs.Promised)
}

// voteKey names one site's vote in one election generation.
type voteKey struct {
	site rep.SiteID
	egen uint64
}

// commitResult records a commit's result, once.
func (s *Sim) commitResult(m *member, cr rep.CommitResult) {
	c := s.byKey[commitKey{m.id, cr.LSN}]
	if c == nil {
		s.violate("site %d: result for unknown commit at %s", m.id, cr.LSN)
		return
	}
	if c.result != 0 {
		s.violate("site %d: second result for commit %d at %s", m.id, c.id, cr.LSN)
		return
	}
	s.tracef("site %d commit %d permanent=%t", m.id, c.id, cr.Permanent)
	if !cr.Permanent {
		c.result = -1
		s.res.NotPermanent++
		return
	}
	c.result = 1
	s.res.Permanent++
	if s.deposed(m) {
		// The run deposed this master before it reported: an election
		// closes that window (a vote is a promise); appointment does not.
		c.exempt = true
		s.res.Exempt++
		return
	}
	if s.promises() {
		s.perm[c.rec] = c
	}
}

// deposed: appointment mode, and m is not the master the run appointed
// last (it has not heard yet).
func (s *Sim) deposed(m *member) bool {
	return !s.g.Elect && (m.id != s.master || m.core.Status().Rep.Gen != s.gen)
}

// promises reports whether the group's ack policy promises that a
// commit reported permanent survives every failover: it does when the
// acks it needs put the commit on a majority of the electable sites
// (rep's commit point). quorum, all_peers and all always do; one_peer
// does in a group of at most three electable sites (the master and one
// electable client are two); one and none make no such promise (their
// commits are final once the commit point passes them, which the run
// checks for every policy).
func (s *Sim) promises() bool {
	if s.cfg.promiseAll {
		return true // TestSimCatchesBrokenPromise
	}
	switch s.g.Ack {
	case "quorum", "all", "all_peers":
		return true
	case "one_peer":
		return s.g.Electable() <= 3
	}
	return false
}

// rolledBack checks that no record a promise covers was rolled back.
func (s *Sim) rolledBack(m *member, recs []RecID) {
	s.res.RolledBack += len(recs)
	for _, r := range recs {
		if c := s.perm[r]; c != nil {
			s.violate("site %d rolled back commit %d at %s (g%d), reported permanent by site %d under --ack %s",
				m.id, c.id, r.LSN, r.Gen, c.site, s.g.Ack)
		}
		if why, ok := s.final[r]; ok {
			s.violate("site %d rolled back the record at %s (g%d), which was final: %s", m.id, r.LSN, r.Gen, why)
		}
	}
}

// noteCommitPoint records, on a master, the record at its commit point
// as final: nothing may roll it back (rep/commit.go).
func (s *Sim) noteCommitPoint(m *member) {
	st := m.core.Status().Rep
	if st.Role != rep.RoleMaster || st.Commit.IsZero() || s.deposed(m) {
		return
	}
	r, err := m.store.Log().Read(st.Commit)
	if err != nil {
		return // the snapshot's last record: before the log
	}
	id := recID(r)
	if _, ok := s.final[id]; !ok {
		s.final[id] = fmt.Sprintf("the commit point of site %d, master of generation %d", m.id, st.Gen)
	}
}

// finality is a site's finality for token reads: its core's commit
// point, as the runtime's (env/site commitPoint).
type finality struct{ c *sitecore.Core }

func (f finality) Final(at lsn.LSN) bool { return !f.c.Status().Rep.Commit.Less(at) }

// checkDiscard checks an init's discard point d on m: the records up to
// d are replaced by the snapshot without being kept in a rollback file,
// so d must be in the history of the master whose snapshot it installs.
// Wherever that history is still held at d (the master's log, or a
// synchronised client's), its record there must be m's (rep/discard.go:
// the commit point m knew, kept across restarts).
func (s *Sim) checkDiscard(m *member, d lsn.LSN) {
	if d.IsZero() {
		return
	}
	if d.Less(m.store.Log().Last()) {
		s.res.DiscardsShared++
	}
	own, err := m.store.Log().Read(d)
	if err != nil {
		return
	}
	ms := m.core.Status().Rep
	checked := false
	for _, o := range s.sites {
		if o == m || !o.data() {
			continue
		}
		st := o.core.Status().Rep
		inHistory := o.id == ms.Master && st.Role == rep.RoleMaster && st.Gen == ms.Gen ||
			st.Role == rep.RoleClient && st.Master == ms.Master && st.Gen == ms.Gen && (st.SyncState == rep.SyncReady || st.SyncState == rep.SyncCatchup)
		if !inHistory || st.Last.Less(d) {
			continue
		}
		theirs, err := o.store.Log().Read(d)
		if err != nil {
			continue // archived there
		}
		checked = true
		if theirs.Gen != own.Gen || theirs.Checksum != own.Checksum {
			s.violate("site %d: init discards its records up to %s without keeping them, but site %d, in master %d's history, holds another record there (gen %d, not %d)",
				m.id, d, o.id, ms.Master, theirs.Gen, own.Gen)
		}
	}
	if checked {
		s.res.DiscardChecks++
	}
}
