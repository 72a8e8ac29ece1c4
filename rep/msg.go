package rep

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"logship/internal/wire"
	"logship/wal/lsn"
)

// Version is the wire version of Message. Unmarshal rejects any other.
const Version = 1

// MaxMessageBytes bounds an encoded message; Unmarshal rejects larger
// input before decoding.
const MaxMessageBytes = 64 << 20

// MsgType is the kind of a Message. docs/protocol.md describes each: who
// sends it, when, and which fields it carries.
type MsgType uint8

const (
	msgInvalid MsgType = iota
	// MsgLog carries one or more contiguous records (bulk): Records, Last.
	MsgLog
	// MsgLogReq asks for the records after LSN, up to (not including)
	// Until (Zero = to the end); Anywhere marks a request a peer may serve.
	MsgLogReq
	// MsgLogMore ends a throttled pass: the sender stopped after LSN; ask
	// again for the rest.
	MsgLogMore
	// MsgLogNotAvail: the sender cannot serve the LogReq for LSN; Outdated
	// (master only) says the log was archived and only internal init helps.
	MsgLogNotAvail
	// MsgAck: the client's log is durable up to LSN; Applied (optional,
	// zero from sites that do not report it) is the last record its
	// readers see. A client re-sends its durable LSN to report a newer
	// Applied alone.
	MsgAck
	// MsgVerifyReq asks for the identity of the record at LSN.
	MsgVerifyReq
	// MsgVerify answers with the identity (RecGen, Checksum; Found false if
	// the sender has no record there).
	MsgVerify
	// MsgVerifyFail: the LSN is older than the master's log (archived):
	// internal init is needed.
	MsgVerifyFail
	// MsgNewMaster announces From as master of Gen; Last is its log end.
	MsgNewMaster
	// MsgNewClient announces a client that (re)started; the master
	// answers NewMaster.
	MsgNewClient
	// MsgMasterReq asks "who is master?"; the master answers NewMaster.
	MsgMasterReq
	// MsgHeartbeat is the master's idle keep-alive; Last is its log end.
	MsgHeartbeat
	// MsgUpdateReq asks for internal init.
	MsgUpdateReq
	// MsgUpdate describes the snapshot to install: Snap.
	MsgUpdate
	// MsgPageReq asks for the snapshot chunk of Snap.ID at Offset.
	MsgPageReq
	// MsgPage carries snapshot bytes Data at Offset; NotAvail set when the
	// snapshot is no longer served.
	MsgPage
	msgTypeEnd
)

var msgTypeNames = [...]string{"INVALID", "LOG", "LOG_REQ", "LOG_MORE", "LOG_NOTAVAIL", "ACK",
	"VERIFY_REQ", "VERIFY", "VERIFY_FAIL", "NEWMASTER", "NEWCLIENT", "MASTER_REQ", "HEARTBEAT",
	"UPDATE_REQ", "UPDATE", "PAGE_REQ", "PAGE"}

func (t MsgType) String() string {
	if t < msgTypeEnd {
		return msgTypeNames[t]
	}
	return fmt.Sprintf("MsgType(%d)", uint8(t))
}

// LogRecord is a record on the wire. Prev is the LSN of the record before
// it in the sender's log: a receiver whose last record is Prev can append
// it; anything else is a gap (Prev later) or a duplicate (LSN not later).
type LogRecord struct {
	LSN      lsn.LSN `msgpack:"l"`
	Prev     lsn.LSN `msgpack:"p"`
	Gen      uint64  `msgpack:"g"`
	Checksum uint32  `msgpack:"c"`
	Payload  []byte  `msgpack:"d"`
}

func (r LogRecord) record() Record {
	return Record{LSN: r.LSN, Gen: r.Gen, Checksum: r.Checksum, Payload: r.Payload}
}

// SnapInfo describes a snapshot for internal init.
type SnapInfo struct {
	// ID names the snapshot; a client resumes a transfer only while the
	// sender still serves the same ID.
	ID uint64 `msgpack:"i"`
	// LSN is the last record the snapshot reflects; the client's log
	// continues after it.
	LSN lsn.LSN `msgpack:"l"`
	// Size is the total number of bytes.
	Size int64 `msgpack:"s"`
}

// Message is every protocol message. Which fields a type uses is listed
// on the MsgType constants and in docs/protocol.md; the rest are zero.
type Message struct {
	V    uint8   `msgpack:"v"`
	Type MsgType `msgpack:"t"`
	From SiteID  `msgpack:"f"`
	To   SiteID  `msgpack:"o"`
	// Gen is the sender's master generation. Messages of an older
	// generation are dropped (Stats.MsgsBadGen).
	Gen uint64 `msgpack:"g"`

	Records  []LogRecord `msgpack:"r,omitempty"`
	LSN      lsn.LSN     `msgpack:"l,omitempty"`
	Until    lsn.LSN     `msgpack:"u,omitempty"`
	Last     lsn.LSN     `msgpack:"e,omitempty"`
	Anywhere bool        `msgpack:"a,omitempty"`
	Outdated bool        `msgpack:"x,omitempty"`
	// Abandoned (LOG_NOTAVAIL, master only): the master gave up retaining
	// its log for this client's internal init (InitRetainMaxBytes).
	Abandoned bool      `msgpack:"ab,omitempty"`
	Found     bool      `msgpack:"n,omitempty"`
	RecGen    uint64    `msgpack:"rg,omitempty"`
	Checksum  uint32    `msgpack:"c,omitempty"`
	Priority  uint32    `msgpack:"pr,omitempty"`
	Snap      *SnapInfo `msgpack:"s,omitempty"`
	Offset    int64     `msgpack:"of,omitempty"`
	Data      []byte    `msgpack:"d,omitempty"`
	NotAvail  bool      `msgpack:"na,omitempty"`
	// Applied (ACK only): the last record applied on the client, never
	// after LSN. Optional: an older client omits it.
	Applied lsn.LSN `msgpack:"ap,omitempty"`
	// Electability (ACK, NEWCLIENT): how the sender is counted; see
	// [Electability]. Absent (unknown), the master counts the sender the
	// way that can only make permanence harder (ack.go).
	Electability Electability `msgpack:"el,omitempty"`
	// Digest (ACK, with Applied): the digest of the client's data after
	// its Applied record, as its driver keeps it (env's data digest); the
	// master compares it with its own at that record. Optional: zero when
	// not reported.
	Digest uint64 `msgpack:"dg,omitempty"`
	// Commit (LOG and HEARTBEAT from the master): the master's commit
	// point, the newest record durable on a quorum of the electable
	// sites, which no election can lose (see commit.go).
	Commit lsn.LSN `msgpack:"cm,omitempty"`
}

func (m Message) String() string {
	s := fmt.Sprintf("%s %d->%d g%d", m.Type, m.From, m.To, m.Gen)
	switch m.Type {
	case MsgLog:
		if len(m.Records) > 0 {
			s += fmt.Sprintf(" [%s..%s]x%d", m.Records[0].LSN, m.Records[len(m.Records)-1].LSN, len(m.Records))
		}
		s += " last=" + m.Last.String()
	case MsgLogReq:
		s += fmt.Sprintf(" after=%s until=%s anywhere=%t", m.LSN, m.Until, m.Anywhere)
	case MsgPage, MsgPageReq:
		s += fmt.Sprintf(" off=%d n=%d", m.Offset, len(m.Data))
	case MsgAck:
		s += " lsn=" + m.LSN.String()
		if !m.Applied.IsZero() {
			s += " applied=" + m.Applied.String()
		}
		if m.Electability != ElectabilityUnknown {
			s += " " + m.Electability.String()
		}
	default:
		s += " lsn=" + m.LSN.String() + " last=" + m.Last.String()
	}
	return s
}

// Marshal encodes m (setting its version) as msgpack.
func Marshal(m Message) ([]byte, error) {
	m.V = Version
	if err := m.Validate(); err != nil {
		return nil, err
	}
	size := 96 + len(m.Data)
	for i := range m.Records {
		size += 64 + len(m.Records[i].Payload)
	}
	if b, ok := appendMessage(make([]byte, 0, size), &m); ok {
		return b, nil
	}
	return msgpack.Marshal(&m)
}

// Unmarshal decodes and validates one message. It returns an error
// wrapping ErrBadMessage for any malformed input and never panics.
func Unmarshal(b []byte) (Message, error) {
	if len(b) <= MaxMessageBytes && wire.Check(b) == nil {
		var m Message
		if decodeMessage(b, &m) {
			if err := m.Validate(); err != nil {
				return Message{}, err
			}
			return m, nil
		}
	}
	// What decodeMessage does not read, and every malformed input, goes
	// through the library, which says what is wrong.
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
	if m.From == 0 {
		return bad("zero sender")
	}
	if len(m.Records) > 0 && m.Type != MsgLog {
		return bad("unexpected records")
	}
	if !m.Applied.IsZero() && m.Type != MsgAck {
		return bad("unexpected applied LSN %s", m.Applied)
	}
	if m.Electability != ElectabilityUnknown && m.Type != MsgAck && m.Type != MsgNewClient {
		return bad("unexpected electability")
	}
	if m.Digest != 0 && (m.Type != MsgAck || m.Applied.IsZero()) {
		return bad("unexpected digest")
	}
	if int(m.Electability) >= len(electabilityNames) {
		return bad("unknown electability %d", m.Electability)
	}
	if !m.Commit.IsZero() && m.Type != MsgLog && m.Type != MsgHeartbeat {
		return bad("unexpected commit LSN %s", m.Commit)
	}
	switch m.Type {
	case MsgLog:
		for i, r := range m.Records {
			if r.LSN.IsZero() || !r.Prev.Less(r.LSN) {
				return bad("record %d: LSN %s must follow Prev %s", i, r.LSN, r.Prev)
			}
			if i > 0 && r.Prev != m.Records[i-1].LSN {
				return bad("record %d: Prev %s breaks the chain after %s", i, r.Prev, m.Records[i-1].LSN)
			}
		}
	case MsgAck:
		if m.LSN.Less(m.Applied) {
			return bad("applied %s after durable %s", m.Applied, m.LSN)
		}
	case MsgLogReq:
		if !m.Until.IsZero() && !m.LSN.Less(m.Until) {
			return bad("empty range (%s, %s)", m.LSN, m.Until)
		}
	case MsgUpdate:
		if m.Snap == nil || m.Snap.Size < 0 {
			return bad("missing or negative snapshot")
		}
	case MsgPageReq, MsgPage:
		if m.Snap == nil || m.Offset < 0 || m.Snap.Size < 0 || m.Offset+int64(len(m.Data)) > m.Snap.Size && m.Type == MsgPage && !m.NotAvail {
			return bad("bad chunk (offset %d, %d bytes)", m.Offset, len(m.Data))
		}
		if len(m.Data) > MaxChunkBytes {
			return bad("chunk of %d bytes exceeds %d", len(m.Data), MaxChunkBytes)
		}
	}
	return nil
}
