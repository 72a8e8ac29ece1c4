package elect

import "fmt"

// HardState is the election state a site must keep across crashes. The
// driver persists it (raft-boltdb's StableStore) whenever Ready carries
// it, before sending Ready.Messages, and passes the last persisted value
// to New on restart.
type HardState struct {
	// EGen is the newest election generation this site has entered (or
	// the newest master generation it has seen, if later).
	EGen uint64
	// VotedFor is the site this one sent its VOTE2 to in election EGen;
	// 0 = none yet. A site votes at most once per EGen.
	VotedFor SiteID
	// Promised is the newest election generation in which this site cast
	// a VOTE2 (its own vote included). Like a Raft term it outlives newer
	// elections that clear VotedFor: a site never follows, or acks the
	// records of, a master older than Promised, since the candidate it
	// voted for may have won and had its own commits acknowledged by a
	// majority counting this vote's election quorum.
	Promised uint64
	// Holder (witness only) is the data site holding the status-agent
	// grant; 0 = none. HolderGen is the (election) generation it was
	// granted for. HolderTentative: the witness granted it with its vote
	// and the site has not yet confirmed it as master; a tentative grant
	// lapses after it expires even under the consistency choice.
	Holder          SiteID
	HolderGen       uint64
	HolderTentative bool
	// Electability is how the group counts this site, fixed at its first
	// start (New sets it from Config.Priority, or Witness, when it is
	// unknown) and persisted with the rest: a site whose acks and votes
	// were counted as electable keeps counting, and keeps the vote floor
	// that earns it (voteFloor), whatever priority it has later; one that
	// was not counted does not start to be, since the others made
	// commits permanent without it.
	Electability Electability
}

// Role is what the site should be in rep.
type Role uint8

const (
	// RoleUnknown: no master known (start-up, or in an election). rep
	// stays where it is: a client without a master.
	RoleUnknown Role = iota
	// RoleClient: Master is master of Gen; call rep.BecomeClient.
	RoleClient
	// RoleMaster: this site won election Gen; call rep.BecomeMaster(Gen).
	RoleMaster
)

var roleNames = [...]string{"unknown", "client", "master"}

func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// RoleDecision is the role the site must take in rep.
type RoleDecision struct {
	Role   Role
	Master SiteID
	Gen    uint64
}

// EventType names an Event.
type EventType uint8

const (
	// EventElectionStarted: this site entered election Gen (an EGen).
	EventElectionStarted EventType = iota + 1
	// EventElected: this site won and is master of Gen (Berkeley DB
	// DB_EVENT_REP_ELECTED).
	EventElected
	// EventNewMaster: Site is master of Gen (DB_EVENT_REP_NEWMASTER).
	EventNewMaster
	// EventElectionFailed: election Gen ended without a winner; a retry
	// follows after a random back-off.
	EventElectionFailed
	// EventDupMaster: this master heard Site claim mastership of Gen.
	// Site is then the master that stays; this one yields if it is not
	// (DB_EVENT_REP_DUPMASTER).
	EventDupMaster
	// EventLeaseExpired: this master lost its majority of lease grants.
	EventLeaseExpired
	// EventGrantRefused: the witness refused the status-agent grant;
	// Site holds it.
	EventGrantRefused
	// EventTransferStarted / EventTransferDone / EventTransferFailed:
	// a planned handover to Site began / the target was told to campaign
	// / it did not become master in time and writes resume.
	EventTransferStarted
	EventTransferDone
	EventTransferFailed
	// EventSteppedDown: this master stepped down because its log cannot
	// be made durable (StepDown); Gen is the generation it gave up.
	EventSteppedDown
	// EventTransferRefused: the transfer target Site answered that it
	// cannot stand (priority 0, or stalled); EventTransferFailed follows.
	EventTransferRefused
)

var eventNames = [...]string{"", "ElectionStarted", "Elected", "NewMaster", "ElectionFailed",
	"DupMaster", "LeaseExpired", "GrantRefused", "TransferStarted", "TransferDone", "TransferFailed", "SteppedDown", "TransferRefused"}

func (t EventType) String() string {
	if int(t) < len(eventNames) && t != 0 {
		return eventNames[t]
	}
	return fmt.Sprintf("EventType(%d)", uint8(t))
}

// Event is something the application or operator may want to know.
type Event struct {
	Type EventType
	Site SiteID
	Gen  uint64
}

func (e Event) String() string { return fmt.Sprintf("%s site=%d gen=%d", e.Type, e.Site, e.Gen) }

// Ready carries every side effect the node asks of its driver since the
// last Advance. The driver carries the fields out IN THIS ORDER, then
// calls Advance(rd):
//
//  1. State: if non-nil, write it to the stable store and fsync. It MUST
//     be durable before any of Messages is sent: a VOTE2 sent before its
//     vote is durable could be cast twice across a crash.
//  2. Role: if non-nil, carry it out in rep: RoleMaster ->
//     rep.BecomeMaster(Gen); RoleClient -> rep.BecomeClient(Master, Gen);
//     RoleUnknown -> nothing (rep keeps its last role; a former master
//     must stop accepting writes, see [Node.CanWrite]).
//  3. Messages: send each to its To site. Sending may fail or drop; the
//     election retries.
//  4. Events: publish (metrics, logs, the application's event handler).
type Ready struct {
	State    *HardState
	Role     *RoleDecision
	Messages []Message
	Events   []Event
}

// Empty reports whether rd asks nothing of the driver.
func (rd Ready) Empty() bool {
	return rd.State == nil && rd.Role == nil && len(rd.Messages) == 0 && len(rd.Events) == 0
}

// outbox accumulates side effects until Advance.
type outbox struct {
	state  *HardState
	role   *RoleDecision
	msgs   []Message
	events []Event
}

// HasReady reports whether Ready would return anything.
func (n *Node) HasReady() bool { return !n.Ready().Empty() }

// Ready returns the side effects accumulated since the last Advance. It
// does not change the node; calling it twice returns the same effects.
func (n *Node) Ready() Ready {
	return Ready{State: n.out.state, Role: n.out.role, Messages: n.out.msgs, Events: n.out.events}
}

// Advance tells the node the driver carried out rd. Effects produced
// between Ready and Advance are kept for the next Ready.
func (n *Node) Advance(rd Ready) {
	o := &n.out
	if rd.State != nil && o.state != nil && *o.state == *rd.State {
		o.state = nil
	}
	if rd.Role != nil && o.role != nil && *o.role == *rd.Role {
		o.role = nil
	}
	n.stats.MsgsSent += uint64(len(rd.Messages))
	o.msgs = dropPrefix(o.msgs, len(rd.Messages))
	o.events = dropPrefix(o.events, len(rd.Events))
}

// dropPrefix removes the first k elements, releasing the backing array
// when nothing is left.
func dropPrefix[T any](s []T, k int) []T {
	if k >= len(s) {
		return nil
	}
	return append([]T(nil), s[k:]...)
}
