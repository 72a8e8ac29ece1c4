package sim

// Election mode (Config.Elect): every site runs an elect.Node beside its
// rep.Node, and its role comes only from elect's RoleDecisions. The glue
// follows env's driver (env/elect.go) rule for rule, and the rules
// themselves are shared (internal/repelect), so the simulator checks the
// combination env ships:
//
//   - rep NEWMASTER and HEARTBEAT from another site -> elect MasterSeen;
//     rep EventMasterSilent, and EventConnectBroken of the current
//     master -> elect MasterLost;
//   - whenever rep's durable LSN moves -> elect UpdateLastRecord(gen of
//     that record, LSN);
//   - elect's Ready in its contract order: State persisted (here: the
//     run's per-site map, which survives the site's crashes) BEFORE any
//     of its Messages is sent; RoleMaster -> rep BecomeMaster(gen) (the
//     storage takes the generation with each commit, Storage.Commit);
//     RoleClient -> rep BecomeClient(master, gen), or MasterHeard when
//     rep already follows that master (repelect.RoleAction); then Events;
//   - writes only while rep is master AND elect's WriteErr is nil.
//
// Both protocols share the memnet network as bytes, each body prefixed
// with env's envelope byte: 'r' for rep, 'e' for elect.
//
// Time: one sim tick is one rep tick and one elect tick, and both
// packages count TickMillis = 10 ms per tick, so elect's timeouts, rep's
// heartbeats and the network's delays are all in the same virtual
// milliseconds (a memnet delay of 3 ticks is 30 ms).

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"logship/elect"
	"logship/internal/repelect"
	"logship/rep"
	"logship/rep/transport"
	"logship/wal/lsn"
)

// Envelope bytes, as env's driver puts them on every transport body.
const (
	envelopeRep   byte = 'r'
	envelopeElect byte = 'e'
)

// electHeartbeatTicks is rep's heartbeat interval with elections, env's
// 100 ms; the heartbeat monitor is three of them (env's 300 ms), and
// elect's lease refresh uses the same interval (env sets
// elect.Config.HeartbeatTicks to rep's).
const electHeartbeatTicks = 100 / rep.TickMillis

// voteKey names one site's vote in one election generation.
type voteKey struct {
	site rep.SiteID
	egen uint64
}

// electBase returns the timeouts t names.
func electBase(t Timeouts) elect.Config {
	if t == TimeoutsTight {
		return elect.TightConfig()
	}
	return elect.DefaultConfig()
}

// initElect draws the run's election settings: the timeouts (unless
// Config.Timeouts fixes them) and whether the first election after
// start-up is a full one.
func (s *Sim) initElect() {
	s.hard = map[rep.SiteID]elect.HardState{}
	s.genMaster = map[uint64]rep.SiteID{}
	s.votes = map[voteKey]elect.SiteID{}
	s.reported = map[string]bool{}
	t, full := s.cfg.Timeouts, true
	if t == "" {
		t = []Timeouts{TimeoutsDefault, TimeoutsTight}[s.rng.IntN(2)]
		full = s.rng.IntN(2) == 0
	}
	s.ecfg = electConfig(t, s.cfg.Leases)
	if !full {
		s.ecfg.FullElectionTicks = 0 // env's ElectFullTimeout < 0
	}
}

// electConfig is every site's elect configuration but for ID, Sites and
// Rand: the timeouts of t, lease refresh at rep's heartbeat as env sets
// it, and, with leases, LeaseTicks at least the least Validate accepts
// for that refresh (TightConfig's 20 ticks assume a 50 ms refresh; with
// env's 100 ms heartbeat the least is 23).
func electConfig(t Timeouts, leases bool) elect.Config {
	ec := electBase(t)
	ec.HeartbeatTicks = electHeartbeatTicks
	ec.Leases = leases
	if leases {
		ec.LeaseTicks = max(ec.LeaseTicks, 2*ec.HeartbeatTicks+ec.ClockSkew+1)
	}
	return ec
}

func describeElect(c elect.Config) string {
	return fmt.Sprintf("votewait=%d election=%d full=%d retry=%d heartbeat=%d leases=%t lease=%d skew=%d",
		c.VoteWaitTicks, c.ElectionTicks, c.FullElectionTicks, c.RetryTicks, c.HeartbeatTicks, c.Leases, c.LeaseTicks, c.ClockSkew)
}

// healBound is how many ticks after the faults heal a master must accept
// writes, derived from the timeouts: rep's heartbeat monitor (a client
// notices a silent master), a full election (a site restarted at the heal
// waits up to FullElectionTicks for every VOTE1, then ElectionTicks for a
// winner), three failed elections each followed by the longest back-off
// (ElectionTicks + 2*RetryTicks; with a perfect network and every site up
// an election fails only when sites enter it at different times), and,
// with leases, the new master's wait for its predecessor's leases
// (LeaseTicks + ClockSkew).
func (s *Sim) healBound() int {
	c := s.ecfg
	b := 3*electHeartbeatTicks + c.FullElectionTicks + c.ElectionTicks + 3*(c.ElectionTicks+2*c.RetryTicks)
	if c.Leases {
		b += c.LeaseTicks + c.ClockSkew
	}
	return b
}

// startElect gives a (re)started site its elect node over the HardState
// it last persisted, tells it its last durable record and starts it:
// with no master known it holds an election at once.
func (s *Sim) startElect(st *site) {
	ec := s.ecfg
	ec.ID, ec.Priority = elect.SiteID(st.id), 1
	for _, o := range s.sites {
		if o.id != st.id {
			ec.Sites = append(ec.Sites, elect.Site{ID: elect.SiteID(o.id)})
		}
	}
	ec.Rand = rand.New(rand.NewPCG(s.rng.Uint64(), uint64(st.id)))
	n, err := elect.New(ec, s.hard[st.id])
	s.must(err, "site %d: elect.New", st.id)
	st.el, st.lastRec, st.writableSince = n, lsn.Zero, 0
	s.noteLastRecord(st)
	n.Start()
}

// noteLastRecord tells the elect node the generation and LSN of the last
// durable record, when it moved (env's driver does this before each elect
// Ready).
func (s *Sim) noteLastRecord(st *site) {
	at := st.node.Status().Durable
	if at.IsZero() || at == st.lastRec {
		return
	}
	gen := st.store.LastGen()
	if r, err := st.store.Log().Read(at); err == nil {
		gen = r.Gen
	}
	st.lastRec = at
	st.el.UpdateLastRecord(gen, at)
}

// receiveElect steps one elect message body (envelope stripped). As in
// env, a message claiming another sender than its connection is refused.
func (s *Sim) receiveElect(st *site, from rep.SiteID, body []byte) {
	if st.el == nil {
		s.violate("site %d: election message from %d in appointment mode", st.id, from)
		return
	}
	m, err := elect.Unmarshal(body)
	if err != nil {
		s.violate("site %d: undecodable election message from %d: %v", st.id, from, err)
		return
	}
	if rep.SiteID(m.From) != from {
		s.violate("site %d: election message from %d on the connection of %d", st.id, m.From, from)
		return
	}
	s.tracef("recv %s %d->%d e%d g%d", m.Type, m.From, m.To, m.EGen, m.Gen)
	if err := st.el.Step(m); err != nil {
		s.violate("site %d: elect Step(%s): %v", st.id, m, err)
	}
}

// repSeen feeds elect what a received rep message says about masters.
func (s *Sim) repSeen(st *site, m rep.Message) {
	if st.el == nil {
		return
	}
	if id, gen, ok := repelect.MasterClaim(st.id, m); ok {
		st.el.MasterSeen(id, gen)
	}
}

// repEventSeen feeds elect rep's failure detection.
func (s *Sim) repEventSeen(st *site, ev rep.Event) {
	if st.el != nil && repelect.MasterLost(st.node.Status(), ev) {
		st.el.MasterLost()
	}
}

// processElect carries out the elect node's Ready, if any, in its
// contract order, and reports whether there was one.
func (s *Sim) processElect(st *site) bool {
	s.noteLastRecord(st)
	if !st.el.HasReady() {
		return false
	}
	rd := st.el.Ready()
	// 1. State, persisted before any message goes out.
	if rd.State != nil {
		s.persist(st, *rd.State)
	}
	// 2. Role.
	if rd.Role != nil {
		s.carryOutRole(st, *rd.Role)
	}
	// 3. Messages.
	voted := false
	for _, m := range rd.Messages {
		if m.Type == elect.MsgVote2 {
			voted = true
			if hs := s.hard[st.id]; hs.EGen != m.EGen || rep.SiteID(hs.VotedFor) != rep.SiteID(m.To) {
				s.violate("site %d sends VOTE2 to %d in election %d, but its persisted state is EGen %d VotedFor %d",
					st.id, m.To, m.EGen, hs.EGen, hs.VotedFor)
			}
		}
		b, err := elect.Marshal(m)
		if err != nil {
			s.violate("site %d: elect Marshal(%s): %v", st.id, m, err)
			continue
		}
		s.send(st, rep.SiteID(m.To), envelopeElect, b)
	}
	// 4. Events.
	for _, ev := range rd.Events {
		s.tracef("site %d elect %s", st.id, ev)
		if ev.Type == elect.EventElected {
			s.res.Elections++
		}
	}
	st.el.Advance(rd)
	if voted && !s.heal && s.rng.Float64() < s.f.VoterCrash && !slices.Contains(s.crashSoon, st) {
		s.crashSoon = append(s.crashSoon, st)
	}
	return true
}

// persist is the stable store: it keeps hs across the site's crashes,
// and checks that no site ever votes twice in one election generation,
// nor goes back to an older one.
func (s *Sim) persist(st *site, hs elect.HardState) {
	prev := s.hard[st.id]
	if hs.EGen < prev.EGen {
		s.violate("site %d persisted election generation %d after %d", st.id, hs.EGen, prev.EGen)
	}
	if hs.VotedFor != 0 {
		k := voteKey{st.id, hs.EGen}
		if v, ok := s.votes[k]; ok && v != hs.VotedFor {
			s.violate("site %d voted twice in election %d: for site %d, then for site %d", st.id, hs.EGen, v, hs.VotedFor)
		}
		s.votes[k] = hs.VotedFor
	}
	s.hard[st.id] = hs
	s.tracef("site %d persist egen=%d voted=%d promised=%d", st.id, hs.EGen, hs.VotedFor, hs.Promised)
}

// promisedAway drops, as env's driver does, a rep message of a master
// older than the newest election st voted in (repelect.PromisedAway).
func (s *Sim) promisedAway(st *site, m rep.Message) bool {
	if st.el == nil || !repelect.PromisedAway(st.el.Promised(), m) {
		return false
	}
	s.tracef("site %d drops %s: promised election %d", st.id, m.Type, st.el.Promised())
	return true
}

// carryOutRole makes rep take the role elect decided.
func (s *Sim) carryOutRole(st *site, d elect.RoleDecision) {
	s.tracef("site %d elect role %s master=%d gen=%d", st.id, d.Role, d.Master, d.Gen)
	if d.Role == elect.RoleMaster {
		s.elected(st, d.Gen)
	}
	switch repelect.RoleAction(st.node.Status(), d) {
	case repelect.BecomeMaster:
		if err := st.node.BecomeMaster(d.Gen); err != nil {
			s.violate("site %d won election %d but rep refused: %v", st.id, d.Gen, err)
			return
		}
		s.note("site %d storage:%s", st.id, st.store.Describe())
		s.checkHasPermanent(st, "new master")
	case repelect.StepDown:
		st.node.StepDown() // elect stood down for a newer election
	case repelect.BecomeClient:
		master := rep.SiteID(d.Master)
		if err := st.node.BecomeClient(master, d.Gen); err != nil {
			s.violate("site %d: rep refused to follow master %d of gen %d: %v", st.id, master, d.Gen, err)
		}
	case repelect.MasterHeard:
		st.node.MasterHeard(rep.SiteID(d.Master), d.Gen)
	}
}

// elected records that st won election gen, checking that no other site
// was ever master of gen.
func (s *Sim) elected(st *site, gen uint64) {
	if m, ok := s.genMaster[gen]; ok && m != st.id {
		s.violate("seed %d: two masters of generation %d: site %d and site %d", s.cfg.Seed, gen, m, st.id)
	}
	s.genMaster[gen] = st.id
	if gen > s.gen {
		if s.master != 0 {
			s.res.Failovers++
		}
		s.master, s.gen = st.id, gen
	}
}

// send puts a body on the network behind its envelope byte. A muted
// site's messages, and messages to it, are lost without a trace.
func (s *Sim) send(st *site, to rep.SiteID, envelope byte, body []byte) {
	if s.muted(st.id) || s.muted(to) {
		return
	}
	b := make([]byte, 1+len(body))
	b[0] = envelope
	copy(b[1:], body)
	st.ep.Send(transport.ID(to), b)
}

func (s *Sim) muted(id rep.SiteID) bool {
	return id != 0 && int(id) <= len(s.sites) && s.site(id).mutedTill > s.now
}

// writable: the site may accept a write now.
func (st *site) writable() bool {
	return st.up() && st.el != nil && st.node.Status().Role == rep.RoleMaster && st.el.WriteErr() == nil
}

// electedMaster finds the site the group may settle on: the one live
// site that is master in rep and elect at the same generation and accepts
// writes. It makes it the run's master (checkEnd's reference): after a
// restart a site forgets the generations it knew, so the group may well
// settle on a master older than the newest one ever elected, which is
// fine as long as no commit reported permanent is lost (checkEnd).
func (s *Sim) electedMaster() bool {
	var m *site
	for _, st := range s.sites {
		if !st.writable() || st.el.Status().Role != elect.RoleMaster || st.el.Status().Gen != st.node.Status().Gen {
			continue
		}
		if m != nil {
			return false
		}
		m = st
	}
	if m == nil {
		return false
	}
	s.master, s.gen = m.id, m.node.Status().Gen
	return true
}

// afterTurn runs after each site's turn in a tick: the voters due to
// crash crash, and the instant is checked for two writers.
func (s *Sim) afterTurn() {
	for _, st := range s.crashSoon {
		if st.up() {
			s.crashSite(st, s.rng.Float64() < s.f.Silent, 1, 30)
		}
	}
	s.crashSoon = nil
	var holders []string
	for _, st := range s.sites {
		w := st.writable()
		switch {
		case !w:
			st.writableSince = 0
		case st.writableSince == 0:
			st.writableSince = s.now
		}
		if st.up() && (w || s.cfg.Leases && st.el.CanReadLease()) {
			es := st.el.Status()
			holders = append(holders, fmt.Sprintf("site %d (gen %d, write=%t, lease-read=%t)", st.id, es.Gen, w, st.el.CanReadLease()))
		}
	}
	if s.cfg.Leases && len(holders) > 1 {
		s.violateOnce(strings.Join(holders, ", "), "seed %d: two sites may write or serve lease reads at once: %s",
			s.cfg.Seed, strings.Join(holders, ", "))
	}
}

// violateOnce reports a violation the first time key is seen: a
// condition that holds for many ticks is one finding.
func (s *Sim) violateOnce(key, format string, args ...any) {
	if s.reported[key] {
		return
	}
	s.reported[key] = true
	s.violate(format, args...)
}

// checkHealElection checks, on a quiescent group, that its master
// accepted writes within healBound ticks of the faults healing.
func (s *Sim) checkHealElection() {
	m := s.site(s.master)
	took := max(0, m.writableSince-s.healAt)
	s.res.HealElectTicks = took
	if b := s.healBound(); took > b {
		s.violate("seed %d: master %d (gen %d) accepted writes %d ticks (%d ms) after the faults healed, more than the bound of %d ticks (%s)",
			s.cfg.Seed, m.id, s.gen, took, took*rep.TickMillis, b, describeElect(s.ecfg))
	}
}

// mute makes a site (the master, mostly) lose every message for a while.
func (s *Sim) mute() {
	live := s.liveSites()
	if len(live) == 0 {
		return
	}
	st := live[s.rng.IntN(len(live))]
	if s.master != 0 && s.site(s.master).up() && s.rng.Float64() < 0.7 {
		st = s.site(s.master)
	}
	st.mutedTill = s.now + 20 + s.rng.IntN(150)
	s.res.Mutes++
	s.tracef("site %d muted until %d", st.id, st.mutedTill)
}

// electDescribe adds each site's election state to describe.
func (s *Sim) electDescribe(st *site) string {
	if st.el == nil {
		return ""
	}
	es := st.el.Status()
	return fmt.Sprintf(" elect %s of %d g%d egen=%d voted=%d", es.Role, es.Master, es.Gen, es.EGen, es.VotedFor)
}
