package elect

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"logship/internal/wire"
	"logship/wal/lsn"
)

// Version is the wire version of Message. Unmarshal rejects any other.
const Version = 1

// MaxMessageBytes bounds an encoded election message; they are small.
const MaxMessageBytes = 4 << 10

// MsgType is the kind of a Message. docs/protocol.md ("Election
// messages") describes each: who sends it, when, what it carries.
type MsgType uint8

const (
	msgInvalid MsgType = iota
	// MsgVote1 (phase 1) says "I am in election EGen with this log":
	// LastGen, LastLSN, Priority, Tiebreak; Force and Target for a forced
	// or transfer election. Broadcast on entering an election.
	MsgVote1
	// MsgVote2 (phase 2) says "in election EGen I vote for you (To)".
	MsgVote2
	// MsgMaster says "I am master of Gen": sent by an election winner to
	// every site, by a master to a site that sent it VOTE1, and by a
	// master that yields to a duplicate master (then Gen is the yielding
	// master's own, so the one that stays learns of the duplicate).
	MsgMaster
	// MsgLeaseReq: master of Gen asks for a lease grant; Stamp is its
	// tick when sending.
	MsgLeaseReq
	// MsgLeaseGrant answers MsgLeaseReq, echoing Gen and Stamp.
	MsgLeaseGrant
	// MsgGrantReq: a data-site master of Gen asks the witness for the
	// status-agent grant (Stamp: its tick when sending); Release gives
	// the grant back instead (the data sites are mirrored again).
	MsgGrantReq
	// MsgGrant answers MsgGrantReq: OK with Stamp echoed, or refused
	// naming Holder.
	MsgGrant
	// MsgTransfer: the master of Gen hands over to To, which is up to
	// date: To campaigns at once with a forced election targeting itself.
	// With Refused, the target answers that it cannot stand (priority 0
	// or stalled) and the transfer fails.
	MsgTransfer
	msgTypeEnd
)

var msgTypeNames = [...]string{"INVALID", "VOTE1", "VOTE2", "MASTER", "LEASE_REQ", "LEASE_GRANT",
	"GRANT_REQ", "GRANT", "TRANSFER"}

func (t MsgType) String() string {
	if t < msgTypeEnd {
		return msgTypeNames[t]
	}
	return fmt.Sprintf("MsgType(%d)", uint8(t))
}

// Message is every election message. Which fields a type uses is listed
// on the MsgType constants; the rest are zero.
type Message struct {
	V    uint8   `msgpack:"v"`
	Type MsgType `msgpack:"t"`
	From SiteID  `msgpack:"f"`
	To   SiteID  `msgpack:"o"`
	// EGen is the sender's election generation (every type).
	EGen uint64 `msgpack:"eg"`
	// Gen is a master generation (MASTER, LEASE_*, GRANT*, TRANSFER).
	Gen uint64 `msgpack:"g,omitempty"`

	LastGen  uint64  `msgpack:"lg,omitempty"`
	LastLSN  lsn.LSN `msgpack:"l,omitempty"`
	Priority uint32  `msgpack:"p,omitempty"`
	Tiebreak uint64  `msgpack:"tb,omitempty"`
	// Force: join even if a master is known (transfer, DupMaster).
	Force bool `msgpack:"fo,omitempty"`
	// Target: the site a transfer hands over to; it wins ties.
	Target SiteID `msgpack:"tg,omitempty"`
	// Promised (VOTE1): the voter's HardState.Promised; a master older
	// than it stands down.
	Promised uint64 `msgpack:"pr,omitempty"`
	// Electability (VOTE1, VOTE2): how the group counts the sender
	// (HardState.Electability). Absent, the receiver counts the sender
	// the way that can only make winning harder.
	Electability Electability `msgpack:"el,omitempty"`

	Stamp   uint64 `msgpack:"s,omitempty"`
	OK      bool   `msgpack:"ok,omitempty"`
	Release bool   `msgpack:"r,omitempty"`
	Holder  SiteID `msgpack:"h,omitempty"`
	// Refused (TRANSFER from the target): it cannot stand.
	Refused bool `msgpack:"rf,omitempty"`
}

func (m Message) String() string {
	s := fmt.Sprintf("%s %d->%d eg%d", m.Type, m.From, m.To, m.EGen)
	switch m.Type {
	case MsgVote1:
		s += fmt.Sprintf(" last=g%d@%s pri=%d %s", m.LastGen, m.LastLSN, m.Priority, m.Electability)
		if m.Force {
			s += fmt.Sprintf(" force target=%d", m.Target)
		}
	case MsgVote2:
	case MsgGrant:
		s += fmt.Sprintf(" g%d ok=%t holder=%d", m.Gen, m.OK, m.Holder)
	default:
		s += fmt.Sprintf(" g%d stamp=%d", m.Gen, m.Stamp)
	}
	return s
}

// vote returns the VOTE1 information of m.
func (m Message) vote() Vote {
	return Vote{Site: m.From, LastGen: m.LastGen, LastLSN: m.LastLSN, Priority: m.Priority, Tiebreak: m.Tiebreak,
		Electability: m.Electability}
}

// Marshal encodes m (setting its version) as msgpack.
func Marshal(m Message) ([]byte, error) {
	m.V = Version
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return msgpack.Marshal(&m)
}

// Unmarshal decodes and validates one message. It returns an error
// wrapping ErrBadMessage for any malformed input and never panics.
func Unmarshal(b []byte) (Message, error) {
	return wire.Unmarshal[Message](b, MaxMessageBytes, ErrBadMessage)
}

// Validate checks the per-type invariants a receiver relies on.
func (m *Message) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: "+format, append([]any{ErrBadMessage, m.Type}, args...)...)
	}
	if m.V != Version {
		return fmt.Errorf("%w: version %d, want %d", ErrBadMessage, m.V, Version)
	}
	if m.Type == msgInvalid || m.Type >= msgTypeEnd {
		return fmt.Errorf("%w: unknown type %d", ErrBadMessage, uint8(m.Type))
	}
	if m.From == 0 || m.To == 0 {
		return bad("zero sender or receiver")
	}
	if m.From == m.To {
		return bad("sender is the receiver")
	}
	if int(m.Electability) >= len(electabilityNames) {
		return bad("unknown electability %d", m.Electability)
	}
	if m.Electability != ElectabilityUnknown && m.Type != MsgVote1 && m.Type != MsgVote2 {
		return bad("unexpected electability")
	}
	switch m.Type {
	case MsgVote1, MsgVote2:
		if m.EGen == 0 {
			return bad("zero election generation")
		}
		if m.Target != 0 && !m.Force {
			return bad("transfer target without force")
		}
	case MsgMaster, MsgLeaseReq, MsgLeaseGrant, MsgGrantReq, MsgTransfer:
		if m.Gen == 0 {
			return bad("zero master generation")
		}
	case MsgGrant:
		if m.OK && m.Holder != 0 {
			return bad("an OK grant names no other holder")
		}
	}
	return nil
}
