package elect

import (
	"fmt"
	"slices"

	"logship/wal/lsn"
)

// Node is one site's election state machine. It is not safe for
// concurrent use: one goroutine (the env driver) owns it.
type Node struct {
	cfg      Config
	sites    map[SiteID]Site
	priority uint32
	now      uint64 // ticks since New

	hs     HardState // current; persisted through Ready.State
	role   Role
	master SiteID
	gen    uint64 // generation of the known master (0 = none known yet)

	// toldStale: the stale master claim this master last answered, per
	// claimant, and when (see MasterSeen).
	toldStale map[SiteID]staleClaim

	lastGen uint64 // own last record: generation and LSN
	lastLSN lsn.LSN

	started bool // Start was called
	// observer: this site is not a voting member (SetSites): it never
	// stands, votes or grants.
	observer bool
	known    map[SiteID]bool // non-voters whose master claims count (SetSites)
	full     bool            // the next election is the first since start-up
	// fullUntil: the end of the full-election wait, counted from the
	// first election this site entered, however many newer elections it
	// joins meanwhile (0 = not begun).
	fullUntil uint64
	el        *election
	retryAt   uint64 // without a master: tick of the next attempt (0 = none)

	// grantBlock: until this tick, a site that voted in election hs.EGen
	// refuses lease grants to masters of an older generation (the
	// candidate it voted for may still win).
	grantBlock uint64

	lease leaseState
	agent agentState
	xfer  transferState

	// stalled: the local log cannot be made durable (StepDown until
	// Recovered); see stepdown.go.
	stalled bool

	out   outbox
	stats Stats
}

// New returns a node over cfg and the election state last persisted
// (the zero HardState on first start). It does nothing until Start, a
// message, or another input: call UpdateLastRecord first with the
// generation and LSN of the local log's last record.
func New(cfg Config, hs HardState) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Sites = slices.Clone(cfg.Sites)
	if hs.VotedFor != 0 && hs.Promised < hs.EGen {
		hs.Promised = hs.EGen // state persisted before Promised existed
	}
	n := &Node{cfg: cfg, sites: map[SiteID]Site{}, priority: cfg.Priority, hs: hs, toldStale: map[SiteID]staleClaim{}}
	if hs.Electability == ElectabilityUnknown || int(hs.Electability) >= len(electabilityNames) {
		// First start (or a state saved before electability was kept):
		// the class is the configured priority's, from now on.
		e := Unelectable
		if !cfg.Witness && cfg.Priority > 0 {
			e = Electable
		}
		hs.Electability = e
		n.setState(hs)
	}
	for _, s := range cfg.Sites {
		n.sites[s.ID] = s
	}
	n.full = cfg.FullElectionTicks > 0
	if cfg.Witness && hs.Holder != 0 {
		// The grant's age is unknown after a restart: count it from now.
		n.agent.expires = uint64(cfg.GrantTicks)
		if hs.HolderTentative {
			n.agent.expires += uint64(cfg.ElectionTicks)
		}
	}
	if hs.VotedFor != 0 {
		// We may have voted for a candidate still collecting votes.
		n.grantBlock = n.maxElectionSpan()
	}
	return n, nil
}

// Status is the node's externally visible state.
type Status struct {
	ID       SiteID
	Role     Role
	Master   SiteID
	Gen      uint64
	Priority uint32
	Witness  bool
	// EGen and VotedFor are the (persisted) election state.
	EGen     uint64
	VotedFor SiteID
	// Electing: the site is in election EGen; Voted: it cast its VOTE2.
	Electing, Voted bool
	// LastGen, LastLSN: the local log's last record as last reported.
	LastGen uint64
	LastLSN lsn.LSN
	// WriteErr is nil when the site may accept writes now (CanWrite).
	WriteErr error
	// LeaseHeld: a master holding a majority of lease grants.
	LeaseHeld bool
	// Holder (witness): the data site holding the status-agent grant.
	Holder SiteID
	// TransferTo: the site a planned transfer hands over to, 0 if none.
	TransferTo SiteID
	// Stalled: StepDown was called and Recovered not yet.
	Stalled bool
	// Electability: how the group counts this site (HardState).
	Electability Electability
}

// Status returns the node's current status.
func (n *Node) Status() Status {
	st := Status{
		ID: n.cfg.ID, Role: n.role, Master: n.master, Gen: n.gen, Priority: n.priority,
		Witness: n.cfg.Witness, EGen: n.hs.EGen, VotedFor: n.hs.VotedFor,
		LastGen: n.lastGen, LastLSN: n.lastLSN, WriteErr: n.WriteErr(),
		Holder: n.hs.Holder, TransferTo: n.xfer.to, Stalled: n.stalled, Electability: n.hs.Electability,
	}
	if n.el != nil {
		st.Electing, st.Voted = true, n.el.voted
	}
	if n.role == RoleMaster && n.cfg.Leases {
		st.LeaseHeld = n.leaseHeld()
	}
	return st
}

// Stats returns a snapshot of the counters.
func (n *Node) Stats() Stats { return n.stats }

// Promised returns HardState.Promised: the driver drops rep messages of
// masters older than it (a site must not ack them; see HardState).
func (n *Node) Promised() uint64 { return n.hs.Promised }

// Now returns the node's clock: ticks since New.
func (n *Node) Now() uint64 { return n.now }

func (n *Node) send(m Message) {
	m.V = Version
	m.From = n.cfg.ID
	m.EGen = n.hs.EGen
	n.out.msgs = append(n.out.msgs, m)
}

func (n *Node) broadcast(m Message) {
	for _, s := range n.cfg.Sites {
		m.To = s.ID
		n.send(m)
	}
}

func (n *Node) event(t EventType, site SiteID, gen uint64) {
	n.out.events = append(n.out.events, Event{Type: t, Site: site, Gen: gen})
}

// setState records a change of the hard state for Ready.State.
func (n *Node) setState(hs HardState) {
	if hs == n.hs {
		return
	}
	n.hs = hs
	cp := hs
	n.out.state = &cp
}

func (n *Node) setRole(r Role, master SiteID, gen uint64) {
	n.role, n.master, n.gen = r, master, gen
	n.out.role = &RoleDecision{Role: r, Master: master, Gen: gen}
}

// electable reports whether this site may win an election now.
func (n *Node) electable() bool {
	return !n.cfg.Witness && n.priority > 0 && !n.stalled && !n.observer
}

// Electability returns how the group counts this site (HardState.Electability).
func (n *Node) Electability() Electability { return n.hs.Electability }

// counted reports whether this site counts as electable.
func (n *Node) counted() bool { return n.hs.Electability == Electable }

// Step processes one received message. Messages from unknown sites or
// that make no sense now are dropped and counted; Step returns an error
// only for a message addressed to another site.
func (n *Node) Step(m Message) error {
	if m.To != n.cfg.ID {
		return fmt.Errorf("elect: message for site %d delivered to %d", m.To, n.cfg.ID)
	}
	n.stats.MsgsRecv++
	if _, ok := n.sites[m.From]; !ok && !(n.known[m.From] && fromNonVoter(m.Type)) {
		n.stats.MsgsIgnored++
		return nil
	}
	switch m.Type {
	case MsgVote1:
		n.stepVote1(m)
	case MsgVote2:
		n.stepVote2(m)
	case MsgMaster:
		n.MasterSeen(m.From, m.Gen)
	case MsgLeaseReq:
		n.stepLeaseReq(m)
	case MsgLeaseGrant:
		n.LeaseGranted(m.From, m.Gen, m.Stamp)
	case MsgGrantReq:
		n.stepGrantReq(m)
	case MsgGrant:
		n.stepGrant(m)
	case MsgTransfer:
		n.stepTransfer(m)
	default:
		n.stats.MsgsIgnored++
	}
	return nil
}

// Tick advances the node's clock by one tick (TickMillis).
func (n *Node) Tick() {
	n.now++
	if n.el != nil {
		n.maybeVote()
		if n.el != nil && n.now >= n.el.deadline {
			n.failElection()
		}
	} else if n.started && n.role == RoleUnknown && n.retryAt != 0 && n.now >= n.retryAt {
		n.startElection(false, 0)
	}
	if n.role == RoleMaster {
		n.tickLease()
		n.tickAgent()
		n.tickTransfer()
	}
}

// Start begins participation (Berkeley DB rep_start followed by an
// election when no master is known): if no master is known the site holds
// an election at once; the first one after start-up is a full election.
// A current master answers the VOTE1 with MASTER, ending it.
func (n *Node) Start() {
	if n.started {
		return
	}
	n.started = true
	if n.role == RoleUnknown && n.el == nil {
		n.startElection(false, 0)
	}
}

// Campaign holds an election now (repadmin elect, Berkeley DB
// rep_elect). A client forgets its master first. Sites that still hear a
// current master ignore it, and the master answers MASTER, so it cannot
// depose a live master: use Transfer for that. A stalled site (StepDown)
// gets ErrStalled.
func (n *Node) Campaign() error {
	if n.role == RoleMaster {
		return nil
	}
	if n.stalled {
		return ErrStalled
	}
	n.started = true
	if n.role == RoleClient {
		n.setRole(RoleUnknown, 0, n.gen)
	}
	n.startElection(false, 0)
	return nil
}

// Announce tells site id that this site is master, if it is: the
// driver calls it when the connection to id comes up. A site that was
// unreachable when the election ended missed its MASTER, and a witness,
// which takes no part in replication, hears of masters from nothing else.
func (n *Node) Announce(id SiteID) {
	if n.role != RoleMaster {
		return
	}
	if _, ok := n.sites[id]; !ok {
		return
	}
	n.send(Message{Type: MsgMaster, To: id, Gen: n.gen})
}

// staleClaim is a stale master's claim of gen, answered at tick at.
type staleClaim struct{ gen, at uint64 }

// MasterSeen tells the node that site id is master of gen: a MASTER
// message, or rep's NEWMASTER or HEARTBEAT. A site that hears a current
// master does not start or join an election. A master that hears another
// resolves the duplicate (see package doc).
func (n *Node) MasterSeen(id SiteID, gen uint64) {
	if id == n.cfg.ID || gen == 0 {
		return
	}
	if _, ok := n.sites[id]; !ok && !n.known[id] {
		return
	}
	if n.stalled {
		n.stalledMasterSeen(gen)
		return
	}
	if n.role == RoleMaster {
		n.stats.DupMasters++
		if gen < n.gen || gen == n.gen && id < n.cfg.ID {
			// We stay; make the other yield. Every message a deposed
			// master had queued carries its claim: answer a claim once a
			// heartbeat interval (the answer may be lost), not once a
			// message.
			if c, ok := n.toldStale[id]; ok && c.gen == gen && n.now < c.at+uint64(max(n.cfg.HeartbeatTicks, 1)) {
				return
			}
			n.toldStale[id] = staleClaim{gen: gen, at: n.now}
			n.event(EventDupMaster, n.cfg.ID, n.gen)
			n.send(Message{Type: MsgMaster, To: id, Gen: n.gen})
			return
		}
		// We yield, and tell the master that stays it had a duplicate.
		n.event(EventDupMaster, id, gen)
		n.send(Message{Type: MsgMaster, To: id, Gen: n.gen})
		n.becomeClient(id, gen)
		return
	}
	if gen < n.gen || (gen == n.gen && id == n.master && n.role == RoleClient) {
		return // stale, or nothing new
	}
	if gen < n.lastGen {
		// Our log holds a record written by the master of lastGen, which
		// was elected after this one: this master is stale, and following
		// it would roll back records of the newer generation, commits
		// reported permanent among them. A restarted site has forgotten
		// the generations it knew (n.gen is 0) and needs this most.
		return
	}
	if gen < n.hs.Promised {
		// This site voted in election Promised, newer than that master:
		// the candidate it voted for may have won without this site
		// hearing of it. Following the older master would let it ack
		// commits that master then reports permanent though the newer one
		// lacks them. Promised is persisted and survives newer elections,
		// so this holds across restarts too. The site stays without a
		// master, so it joins elections; its VOTE1 carries Promised, which
		// makes the old master stand down (stepVote1).
		return
	}
	if n.el != nil && n.el.force && gen < n.el.egen {
		return // a transfer election outranks the master it replaces
	}
	n.becomeClient(id, gen)
}

// MasterLost tells a client that its master is gone (rep's
// EventMasterSilent, or the connection to it broke). The site holds an
// election at once.
func (n *Node) MasterLost() {
	if n.role != RoleClient {
		return
	}
	n.setRole(RoleUnknown, 0, n.gen)
	n.started = true
	if n.el == nil {
		n.startElection(false, 0)
	}
}

// SetPriority changes this site's priority at run time (rep_set_priority).
// It takes effect in the next election this site enters; a master set to
// 0 stays master until then. A site set to 0 still votes, only for a
// candidate at least as up to date as itself (see voteFloor).
func (n *Node) SetPriority(p uint32) error {
	if n.cfg.Witness && p > 0 {
		return ErrWitness
	}
	n.priority = p
	return nil
}

// UpdateLastRecord tells the node the generation and LSN of the local
// log's last record; VOTE1 carries them.
func (n *Node) UpdateLastRecord(gen uint64, at lsn.LSN) {
	n.lastGen, n.lastLSN = gen, at
}

func (n *Node) becomeClient(id SiteID, gen uint64) {
	hs := n.hs
	if gen > hs.EGen {
		hs.EGen, hs.VotedFor = gen, 0
	}
	n.setState(hs)
	if n.xfer.to != 0 {
		if id == n.xfer.to {
			n.event(EventTransferDone, id, gen)
			n.stats.TransfersDone++
		} else {
			n.event(EventTransferFailed, n.xfer.to, gen)
			n.stats.TransfersFailed++
		}
	}
	n.el, n.retryAt, n.full = nil, 0, false
	n.lease = leaseState{}
	n.agent.resetMaster()
	n.xfer = transferState{}
	n.setRole(RoleClient, id, gen)
	n.stats.MasterChanges++
	n.event(EventNewMaster, id, gen)
}

// fromNonVoter says whether a message of type t is taken from a site
// this one knows but does not count as a voter (SetSites' known): as a
// Raft server answers any candidate and follows any leader whatever its
// own configuration, since the candidate counts the votes by its own
// membership, this site considers its candidacy (VOTE1), follows its
// mastership (MASTER, LEASE_REQ, TRANSFER). Its VOTE2 and lease grants
// are never counted here.
func fromNonVoter(t MsgType) bool {
	return t == MsgVote1 || t == MsgMaster || t == MsgLeaseReq || t == MsgTransfer
}
