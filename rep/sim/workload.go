package sim

// The workload: what applications and operators do to the group while
// the faults go on. Applications commit on whichever site accepts writes
// (a deposed master that has not heard included), read on the master,
// read under the master's lease (leases on) and read their writes on any
// site with a token; operators change priorities, hand mastership over
// (repadmin transfer) and start delayed clients' syncs (repadmin sync).

import (
	"errors"
	"fmt"

	"logship/elect"
	"logship/env"
	"logship/rep"
	"logship/wal/lsn"
)

func (s *Sim) workload() {
	s.commitGroup()
	if s.rng.Float64() < s.f.Read {
		s.leaseRead()
	}
	if s.rng.Float64() < s.f.Read {
		s.tokenRead()
	}
	if s.rng.Float64() < s.f.Priority {
		s.changePriority()
	}
	if s.g.Elect && s.rng.Float64() < s.f.Transfer {
		s.startTransfer()
	}
	if s.rng.Float64() < s.f.SyncCall {
		s.syncDelayed(false)
	}
	s.memberChange()
}

// operate is what operators do once the faults heal: start delayed
// clients' syncs, put priorities back to their flags.
func (s *Sim) operate() {
	s.syncDelayed(true)
	for _, m := range s.sites {
		if m.data() && m.cur != m.setup.Priority {
			s.setPriority(m, m.setup.Priority)
		}
	}
}

// commitGroup commits a group of 1-3 transactions on a site that accepts
// writes.
func (s *Sim) commitGroup() {
	if s.rng.Float64() >= s.f.Commit {
		return
	}
	var masters []*member
	for _, m := range s.sites {
		if m.writable() {
			masters = append(masters, m)
		}
	}
	if len(masters) == 0 {
		return
	}
	m := masters[s.rng.IntN(len(masters))]
	var ws [][]KV
	for range 1 + s.rng.IntN(3) {
		id := len(s.commits) + len(ws) + 1
		w := []KV{{fmt.Sprintf("u%05d", id), fmt.Sprintf("g%d-%x", m.core.Status().Rep.Gen, s.rng.Uint32())}}
		for range s.rng.IntN(3) {
			w = append(w, KV{fmt.Sprintf("k%02d", s.rng.IntN(16)), fmt.Sprintf("v%x", s.rng.Uint32())})
		}
		ws = append(ws, w)
	}
	s.commit(m, ws)
}

// markGeneration commits, as the runtime does (env/site
// markGeneration), the first record of a master's generation, a record
// of no writes, as soon as it accepts writes.
func (s *Sim) markGeneration(m *member) {
	if !m.writable() {
		return
	}
	if gen := m.core.Status().Rep.Gen; m.marked != gen {
		m.marked = gen
		s.commit(m, [][]KV{nil})
	}
}

// commit commits the transactions ws (each the keys it puts; nil: a
// marker) on m, as the runtime's Update does: each appended (env.Append),
// the records handed to the core (Appended) and shipped, then made
// durable (Pending.Durable) and reported so (Persisted). Now and then
// the site crashes between shipping and fsyncing. A transaction's first
// key is unique to it: the run checks it survives.
func (s *Sim) commit(m *member, ws [][]KV) {
	var recs []rep.Record
	for _, w := range ws {
		c := &commit{id: len(s.commits) + 1, site: m.id}
		if len(w) > 0 {
			c.key, c.val = w[0].Key, w[0].Value
		}
		got, err := m.store.Commit(w)
		if err != nil {
			s.storageFailed(m, "committing", err)
			break
		}
		r := got.Rec
		c.rec, c.tok = recID(r), got.Token
		if prev := s.byKey[commitKey{m.id, r.LSN}]; prev != nil && prev.result == 0 {
			s.violate("site %d: commit %d at %s replaced commit %d there before it had a result", m.id, c.id, r.LSN, prev.id)
		}
		s.commits = append(s.commits, c)
		s.byKey[commitKey{m.id, r.LSN}] = c
		s.res.Commits++
		s.tracef("site %d commit %d at %s g%d %v", m.id, c.id, r.LSN, r.Gen, w)
		recs = append(recs, r)
	}
	if len(recs) == 0 {
		return
	}
	s.lastWrite.site, s.lastWrite.at = m.id, s.now
	s.appendLocal(m, recs)
	s.process(m)
	if !s.heal && s.rng.Float64() < s.f.CommitCrash {
		s.tracef("site %d crashes before its commit's fsync", m.id)
		s.crashSite(m, s.rng.Float64() < s.f.Silent, 5, 100)
		return
	}
	s.sync(m)
	if c := s.commits[len(s.commits)-1]; m.up() && !m.halted && c.key != "" {
		s.checkMasterRead(m, c)
	}
}

// checkMasterRead: a read on the master sees every commit that returned
// before it (env View through the writer's view).
func (s *Sim) checkMasterRead(m *member, c *commit) {
	v, ok, _, err := m.store.Get(c.key)
	switch {
	case err != nil:
		s.storageFailed(m, "reading on the master", err)
	case !ok || v != c.val:
		s.violate("site %d: a read on the master after commit %d returned misses it: %s=%q, want %q", m.id, c.id, c.key, v, c.val)
	}
}

// ---- lease reads --------------------------------------------------------

// leaseRead is a lease read in progress (env/site ViewLease): it read as
// of at, on the master of gen, and answers once the commit point reaches
// at, if the site still holds its lease then.
type leaseRead struct {
	gen   uint64
	at    lsn.LSN
	start int
}

// leaseRead starts a lease read on a site that believes it is master.
func (s *Sim) leaseRead() {
	if !s.g.Leases {
		return
	}
	for _, m := range s.sites {
		if !m.data() || m.halted || m.status.Role != rep.RoleMaster {
			continue
		}
		if !m.core.CanReadLease() {
			s.tracef("site %d refuses a lease read: no lease", m.id)
			continue
		}
		_, _, at, err := m.store.Get("k00")
		if err != nil {
			s.storageFailed(m, "a lease read", err)
			continue
		}
		m.reads = append(m.reads, &leaseRead{gen: m.status.Gen, at: at, start: s.now})
		s.tracef("site %d lease read as of %s", m.id, at)
	}
}

// finishLeaseReads answers the site's lease reads whose snapshot the
// commit point covers, and fails those whose lease or role ran out.
func (s *Sim) finishLeaseReads(m *member) {
	if len(m.reads) == 0 {
		return
	}
	st := m.core.Status().Rep
	keep := m.reads[:0]
	for _, rd := range m.reads {
		switch {
		case st.Role != rep.RoleMaster || st.Gen != rd.gen || !m.core.CanReadLease():
			s.tracef("site %d lease read as of %s fails: the lease or the role ran out", m.id, rd.at)
		case st.Commit.Less(rd.at):
			keep = append(keep, rd)
		default:
			s.res.LeaseReads++
			s.tracef("site %d lease read as of %s answers (commit point %s)", m.id, rd.at, st.Commit)
			if r, err := m.store.Log().Read(rd.at); err == nil {
				id := recID(r)
				if _, ok := s.final[id]; !ok {
					s.final[id] = fmt.Sprintf("a lease read on site %d (master of generation %d) at tick %d returned it", m.id, rd.gen, s.now)
				}
			}
		}
	}
	m.reads = keep
}

// ---- token reads --------------------------------------------------------

// tokenRead reads a past commit's key with its token on a random data
// site (env/site ViewAt): if it answers, it must return the commit's
// value; if it answers that the commit will never be applied there, no
// promise may cover the commit. Whether a token read finds its commit
// applied yet depends on the applier's progress in real time, so the
// outcome stays out of the trace's hash.
func (s *Sim) tokenRead() {
	if len(s.commits) == 0 {
		return
	}
	c := s.commits[s.rng.IntN(len(s.commits))]
	m := s.sites[s.rng.IntN(len(s.sites))]
	if !m.data() || m.halted || c.tok.LSN.IsZero() || c.key == "" {
		return
	}
	v, ok, err := m.store.GetAt(c.tok, finality{m.core}, c.key)
	switch {
	case !ok || errors.Is(err, errNotYet):
	case errors.Is(err, env.ErrNeverApplied):
		s.res.NeverApplied++
		s.note("site %d: commit %d will never be applied here", m.id, c.id)
		if p := s.perm[c.rec]; p != nil {
			s.violate("site %d says commit %d (%s) will never be applied there, but it was reported permanent under --ack %s", m.id, c.id, c.tok, s.g.Ack)
		}
		if why, ok := s.final[c.rec]; ok {
			s.violate("site %d says commit %d (%s) will never be applied there, but its record is final: %s", m.id, c.id, c.tok, why)
		}
	case err != nil:
		if m.store.Failure() == nil && !m.faulted() {
			s.violate("site %d: token read of commit %d: %v", m.id, c.id, err)
		}
	default:
		s.res.TokenReads++
		s.note("site %d: token read of commit %d answers %q", m.id, c.id, v)
		if v != c.val {
			s.violate("site %d: a token read of commit %d (%s) returned %s=%q, but the commit wrote %q: it succeeded on another record",
				m.id, c.id, c.tok, c.key, v, c.val)
		}
	}
}

// ---- operators ----------------------------------------------------------

// changePriority sets a random electable site's priority (repadmin
// priority): to 0 and back, or to another value. A site's electability
// stays what its first start fixed; a restart takes its flag's priority
// again.
func (s *Sim) changePriority() {
	m := s.sites[s.rng.IntN(len(s.sites))]
	if !m.data() || m.halted || !m.setup.electable() {
		return
	}
	s.setPriority(m, []uint{0, 1, 50, 100}[s.rng.IntN(4)])
}

func (s *Sim) setPriority(m *member, p uint) {
	if err := m.core.SetPriority(uint32(p)); err != nil {
		s.violate("site %d: SetPriority(%d): %v", m.id, p, err)
		return
	}
	s.res.PriorityChanges++
	s.tracef("site %d priority %d -> %d", m.id, m.cur, p)
	m.cur = p
	s.process(m)
}

// transfer is a planned transfer a master carries out.
type transfer struct {
	to   rep.SiteID
	told bool // TransferCaughtUp called
}

// startTransfer asks the site that accepts writes to hand mastership to
// another site (any data site, priority 0 included: it refuses; or now
// and then a witness: a bad target).
func (s *Sim) startTransfer() {
	var m *member
	for _, x := range s.sites {
		if x.writable() && x.xfer == nil {
			m = x
		}
	}
	if m == nil {
		return
	}
	to := s.sites[s.rng.IntN(len(s.sites))]
	if to == m {
		return
	}
	err := m.core.Transfer(to.id)
	s.tracef("site %d transfer to %d: %v", m.id, to.id, err)
	switch {
	case err == nil:
		s.res.Transfers++
		m.xfer = &transfer{to: to.id}
	case to.witness && errors.Is(err, elect.ErrWitness):
	case !s.voter(m, to.id) && errors.Is(err, elect.ErrUnknownSite):
		// Not a voting member in the master's membership: refused.
	default:
		s.violate("site %d: Transfer(%d): %v", m.id, to.id, err)
	}
	s.process(m)
}

// checkTransfer tells a master handing over when the target holds its
// whole log, as the runtime's checkTransfer does.
func (s *Sim) checkTransfer(m *member) {
	x := m.xfer
	if x == nil || x.told {
		return
	}
	if es := m.core.Status().Elect; es.Role != elect.RoleMaster || es.TransferTo != elect.SiteID(x.to) {
		m.xfer = nil // elect's events settled it
		return
	}
	if m.core.Acked(x.to).Less(m.store.Log().Last()) {
		return
	}
	x.told = true
	s.tracef("site %d: transfer target %d caught up", m.id, x.to)
	m.core.TransferCaughtUp(x.to)
	s.process(m)
}

// syncDelayed starts the sync of a delayed client waiting for it
// (repadmin sync): one at random, or, with all, every one.
func (s *Sim) syncDelayed(all bool) {
	var ms []*member
	for _, m := range s.sites {
		if m.data() && !m.halted && m.status.SyncState == rep.SyncDelayed {
			ms = append(ms, m)
		}
	}
	if len(ms) == 0 {
		return
	}
	if !all {
		ms = ms[s.rng.IntN(len(ms)):][:1]
	}
	for _, m := range ms {
		if err := m.core.Sync(); err != nil {
			s.violate("site %d: Sync: %v", m.id, err)
			continue
		}
		s.res.DelayedSyncs++
		s.tracef("site %d sync (delayed client)", m.id)
		s.process(m)
	}
}
