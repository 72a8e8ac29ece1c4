package elect

import (
	"maps"
	"slices"
)

// election is this site's view of one election generation.
type election struct {
	egen     uint64
	joined   uint64 // tick this site entered it
	voteAt   uint64 // phase 1 ends here at the latest (with enough VOTE1)
	deadline uint64 // no winner by then: the election failed
	full     bool
	// force: a transfer (or operator) election that sites join even
	// while they know a master; target wins ties.
	force     bool
	target    SiteID
	stepAside bool // this site stands as priority 0 (it hands over)
	tiebreak  uint64
	tally     map[SiteID]Vote // VOTE1 heard, this site's included
	voted     bool
	// votes: VOTE2 received for this site (own included), with how each
	// voter said it is counted.
	votes map[SiteID]Electability
}

// electionSpan is the longest an election this site joins may last.
func (n *Node) electionSpan() uint64 {
	span := n.cfg.ElectionTicks
	if n.full {
		span += n.cfg.FullElectionTicks
	}
	return uint64(span + n.cfg.ClockSkew)
}

// maxElectionSpan bounds how long any site's election may last, a full
// one included, with the clock-skew allowance.
func (n *Node) maxElectionSpan() uint64 {
	return uint64(n.cfg.ElectionTicks + n.cfg.FullElectionTicks + n.cfg.ClockSkew)
}

// need returns the votes a winner needs and how many must be electable.
func (n *Node) need() (int, int) {
	size := n.cfg.size()
	lone := !n.cfg.TwoSiteStrict && n.cfg.witnessID() == 0
	need := VotesNeeded(size, n.cfg.NVotes, lone)
	if n.cfg.AllowMinorityVotes || lone && size == 2 {
		return need, 0
	}
	return need, ElectableVotesNeeded(n.electableSites())
}

// electableSites counts the sites that may count as electable in the
// current election: this one by its class, a data site by what its VOTE1
// in this election said, and one not heard (or that did not say) as
// electable, the count that can only make winning harder. A master
// counts alike for its acks (rep), so the electable votes a winner
// needs meet every majority that made a commit permanent.
func (n *Node) electableSites() int {
	e := 0
	if n.counted() {
		e++
	}
	for _, s := range n.cfg.Sites {
		if s.Witness {
			continue
		}
		if n.el != nil {
			if v, ok := n.el.tally[s.ID]; ok && v.Electability == Unelectable {
				continue
			}
		}
		e++
	}
	return e
}

// ownVote is this site's VOTE1 information in the current election.
func (n *Node) ownVote() Vote {
	v := Vote{Site: n.cfg.ID, LastGen: n.lastGen, LastLSN: n.lastLSN, Priority: n.priority, Electability: n.hs.Electability}
	if n.el != nil {
		v.Tiebreak = n.el.tiebreak
		if n.el.stepAside {
			v.Priority = 0
		}
	}
	if n.cfg.Witness || n.observer {
		v.Priority = 0 // never a candidate
	}
	return v
}

func (n *Node) vote1(to SiteID) Message {
	v := n.ownVote()
	return Message{Type: MsgVote1, To: to, LastGen: v.LastGen, LastLSN: v.LastLSN,
		Priority: v.Priority, Tiebreak: v.Tiebreak, Force: n.el.force, Target: n.el.target,
		Promised: n.hs.Promised, Electability: v.Electability}
}

// startElection enters a new election generation above every one known.
func (n *Node) startElection(force bool, target SiteID) {
	if n.stalled {
		n.retryAt = 0 // Recovered starts one
		return
	}
	egen := max(n.hs.EGen, n.gen, n.lastGen) + 1
	n.join(egen, force, target)
}

// join enters election egen (>= hs.EGen) and broadcasts VOTE1. A vote
// already cast in egen (persisted) is kept: never vote twice.
func (n *Node) join(egen uint64, force bool, target SiteID) {
	hs := n.hs
	if egen > hs.EGen {
		hs.EGen, hs.VotedFor = egen, 0
	}
	n.setState(hs)
	if n.full {
		// The full-election wait runs once, from the first election:
		// joining each newer election must not restart it, or a site
		// that waits for a VOTE1 never coming (from a site that still
		// acts as master, which answers MASTER) would never vote.
		if n.fullUntil == 0 {
			n.fullUntil = n.now + uint64(n.cfg.FullElectionTicks)
		}
		if n.now >= n.fullUntil {
			n.full = false
		}
	}
	if n.role != RoleUnknown {
		n.setRole(RoleUnknown, 0, n.gen)
	}
	n.el = &election{
		egen: egen, joined: n.now, full: n.full, force: force, target: target,
		stepAside: n.xfer.to != 0 || n.stalled, tiebreak: n.cfg.Rand.Uint64(),
		tally: map[SiteID]Vote{}, votes: map[SiteID]Electability{}, voted: hs.VotedFor != 0,
	}
	n.el.voteAt = n.now + uint64(n.cfg.VoteWaitTicks)
	if n.full {
		n.el.voteAt = max(n.el.voteAt, n.fullUntil)
	}
	n.el.deadline = n.now + n.electionSpan() - uint64(n.cfg.ClockSkew)
	n.el.tally[n.cfg.ID] = n.ownVote()
	n.retryAt = 0
	n.stats.Elections++
	n.event(EventElectionStarted, n.cfg.ID, egen)
	for _, s := range n.cfg.Sites {
		n.send(n.vote1(s.ID))
	}
	n.stats.Vote1Sent += uint64(len(n.cfg.Sites))
	// The known sites that are not voters here get it too: one of them
	// may be the master the others follow, which a lagging log (its
	// membership not yet holding the promotion) does not count as a
	// voter. If this site promised an election newer than that master's
	// generation, it can never follow it; the VOTE1 says so, and the
	// master stands down (stepVote1) instead of leaving this site to
	// start elections no one answers (sim seed 303718, mem storage).
	for _, id := range slices.Sorted(maps.Keys(n.known)) {
		n.send(n.vote1(id))
		n.stats.Vote1Sent++
	}
	n.maybeVote()
}

func (n *Node) stepVote1(m Message) {
	n.stats.Vote1Recv++
	if n.role == RoleMaster && m.Promised > n.gen {
		// The candidate voted in an election newer than this master's: it
		// will never ack this master again (HardState.Promised), and a
		// newer master may exist. Stand down and take part, as a Raft
		// leader does on seeing a newer term.
		n.abdicate()
	}
	switch {
	case n.role == RoleMaster && !m.Force:
		// A live master ends the election: tell the candidate.
		n.send(Message{Type: MsgMaster, To: m.From, Gen: n.gen})
		return
	case m.EGen < n.hs.EGen:
		if n.el != nil {
			n.send(n.vote1(m.From)) // bring the laggard to our election
		}
		return
	case n.role == RoleClient && !m.Force:
		n.stats.MsgsIgnored++ // we hear a current master
		return
	}
	joined := false
	if n.el == nil || n.el.egen < m.EGen {
		if m.EGen == n.hs.EGen && n.hs.VotedFor != 0 && n.el == nil {
			n.stats.MsgsIgnored++ // we voted in this election and left it
			return
		}
		n.join(m.EGen, m.Force, m.Target)
		joined = true
	}
	el := n.el
	if m.Force && !el.force {
		el.force, el.target = true, m.Target
	}
	if _, ok := el.tally[m.From]; !ok && !joined {
		// First word from this site in this election: make sure it has
		// ours (it may have joined before our broadcast reached it).
		n.send(n.vote1(m.From))
	}
	el.tally[m.From] = m.vote()
	n.maybeVote()
}

// maybeVote ends phase 1 when every site has been heard, or when the
// phase-1 wait is over and enough sites have been heard for a winner, and
// casts this site's VOTE2 for the best electable candidate.
func (n *Node) maybeVote() {
	el := n.el
	if el == nil || el.voted {
		return
	}
	need, _ := n.need()
	heard := 0
	for id := range el.tally {
		if _, voter := n.sites[id]; voter || id == n.cfg.ID {
			heard++ // a non-voter's VOTE1 makes it no quorum
		}
	}
	// Every voter heard ends phase 1 early, unless a candidate this site
	// knows but does not count (known: a site its stale copy of the
	// membership has not promoted yet) is still unheard: it may be the
	// one to elect, and voting before its VOTE1 arrives would split the
	// vote the same way every round (sim seed 100838).
	all := heard >= n.cfg.size()
	for id := range n.known {
		if _, ok := el.tally[id]; !ok {
			all = false
		}
	}
	if !all && (n.now < el.voteAt || heard < need) {
		return
	}
	// Our own log may have grown since we joined (records acked to the
	// old master meanwhile, and perhaps counted toward its permanent
	// commits): choose by what we hold now, so we never vote for a
	// candidate behind us.
	el.tally[n.cfg.ID] = n.ownVote()
	cands := make([]Vote, 0, heard)
	for _, k := range sortedKeys(el.tally) {
		v := el.tally[k]
		if n.cfg.Witness && n.cfg.agentGroup() && !n.grantable(v.Site) {
			continue // the status agent will not put a second site in charge
		}
		cands = append(cands, v)
	}
	best, ok := Best(n.voteFloor(cands), el.target)
	if !ok {
		return // nobody electable heard yet; keep listening
	}
	el.voted = true
	hs := n.hs
	hs.VotedFor = best.Site
	hs.Promised = max(hs.Promised, el.egen)
	if n.cfg.Witness && n.cfg.agentGroup() {
		n.grantByVote(&hs, best.Site)
	}
	n.setState(hs)
	n.grantBlock = n.now + n.maxElectionSpan()
	if best.Site == n.cfg.ID {
		el.votes[n.cfg.ID] = n.hs.Electability
		n.checkWin()
		return
	}
	n.stats.Vote2Sent++
	n.send(Message{Type: MsgVote2, To: best.Site, Electability: n.hs.Electability})
}

func (n *Node) stepVote2(m Message) {
	n.stats.Vote2Recv++
	if _, voter := n.sites[m.From]; !voter || n.el == nil || m.EGen != n.el.egen {
		n.stats.MsgsIgnored++
		return
	}
	n.el.votes[m.From] = m.Electability
	n.checkWin()
}

func (n *Node) checkWin() {
	el := n.el
	if !n.electable() || el.stepAside {
		return
	}
	need, needE := n.need()
	e := 0
	for id, class := range el.votes {
		if class == Electable && !n.sites[id].Witness {
			e++
		}
	}
	if Wins(len(el.votes), e, need, needE) {
		n.becomeMaster(el.egen)
	}
}

func (n *Node) becomeMaster(gen uint64) {
	n.el, n.retryAt, n.full = nil, 0, false
	n.setRole(RoleMaster, n.cfg.ID, gen)
	n.stats.ElectionsWon++
	n.stats.MasterChanges++
	n.lease = leaseState{wonAt: n.now, grants: map[SiteID]uint64{}}
	n.agent.resetMaster()
	n.event(EventElected, n.cfg.ID, gen)
	n.event(EventNewMaster, n.cfg.ID, gen)
	n.broadcast(Message{Type: MsgMaster, Gen: gen})
	n.tickLease()
	n.tickAgent()
}

func (n *Node) failElection() {
	n.event(EventElectionFailed, n.cfg.ID, n.el.egen)
	n.stats.ElectionsFailed++
	n.el, n.full = nil, false
	if n.xfer.to != 0 {
		// The handover election failed: stand as a candidate again.
		n.event(EventTransferFailed, n.xfer.to, n.gen)
		n.stats.TransfersFailed++
		n.xfer = transferState{}
	}
	n.retryAt = n.now + uint64(RetryDelay(n.cfg.RetryTicks, n.cfg.Rand.Uint64()))
}

func sortedKeys[V any](m map[SiteID]V) []SiteID { return slices.Sorted(maps.Keys(m)) }

// PeerUp tells the node that the connection to site id came up. What
// the node sent id in the current election before then was lost (the
// transport drops what it cannot deliver), and no one resends it: the
// peer would not count this site until the full-election wait ran out.
// So its VOTE1 goes again, and its VOTE2 if it voted for id. Both are
// idempotent at the receiver.
func (n *Node) PeerUp(id SiteID) {
	el := n.el
	if el == nil || id == n.cfg.ID {
		return
	}
	if _, ok := n.sites[id]; !ok {
		return
	}
	n.send(n.vote1(id))
	n.stats.Vote1Sent++
	if el.voted && n.hs.VotedFor == id {
		n.send(Message{Type: MsgVote2, To: id, Electability: n.hs.Electability})
		n.stats.Vote2Sent++
	}
}
