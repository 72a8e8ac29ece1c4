package rep

import (
	"errors"
	"fmt"

	"logship/wal/lsn"
)

// SiteID names a site in the replication group. Zero means "no site".
type SiteID uint64

// TickMillis is the tick length the defaults assume: the env driver calls
// [Node.Tick] every 10 ms. A driver with another tick length must scale
// every *Ticks field.
const TickMillis = 10

// Site describes another member of the group. Its electability is not
// configured here: each site says it itself (Message.Electable), and
// until it has, the master counts it the way that can only make
// permanence harder (see ack.go).
type Site struct {
	ID SiteID
	// Witness: the site keeps no data; it only votes in elections (package
	// elect). rep never ships to a witness nor counts it for acks, so a
	// witness must not be in Config.Sites: the env driver gives it to
	// elect only.
	Witness bool
	// NonVoting: a member that receives the log but is never counted for
	// acks, under any policy, nor for the commit point (Member.NonVoting;
	// see member.go).
	NonVoting bool
}

// Electability is whether the group counts a site as electable: its
// acks count for the one_peer, all_peers and quorum policies, and its
// election votes toward the electable quorum (package elect), because it
// votes only for candidates at least as up to date as itself.
type Electability uint8

const (
	// ElectabilityUnknown: not heard yet. In Config, it means "by
	// Priority": electable when Priority > 0.
	ElectabilityUnknown Electability = iota
	// Electable: counted.
	Electable
	// Unelectable: not counted (configured with priority 0).
	Unelectable
)

var electabilityNames = [...]string{"unknown", "electable", "unelectable"}

func (e Electability) String() string {
	if int(e) < len(electabilityNames) {
		return electabilityNames[e]
	}
	return fmt.Sprintf("Electability(%d)", uint8(e))
}

// AckPolicy says which acknowledgements make a commit permanent
// (Berkeley DB's repmgr_set_ack_policy).
type AckPolicy uint8

const (
	// AckNone: permanent as soon as it is durable on the master.
	AckNone AckPolicy = iota
	// AckOne: at least one client (any priority) has it durable.
	AckOne
	// AckOnePeer: at least one electable client has it durable.
	AckOnePeer
	// AckAll: every client has it durable.
	AckAll
	// AckAllPeers: every electable client has it durable.
	AckAllPeers
	// AckQuorum: a majority of the electable sites (the master included
	// when electable) has it durable, so any election winner has it.
	AckQuorum
)

var ackPolicyNames = [...]string{"none", "one", "one_peer", "all", "all_peers", "quorum"}

func (p AckPolicy) String() string {
	if int(p) < len(ackPolicyNames) {
		return ackPolicyNames[p]
	}
	return fmt.Sprintf("AckPolicy(%d)", uint8(p))
}

// ParseAckPolicy reads the --ack flag spelling ("quorum", "one_peer", ...).
func ParseAckPolicy(s string) (AckPolicy, error) {
	for i, n := range ackPolicyNames {
		if n == s {
			return AckPolicy(i), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown ack policy %q", ErrBadConfig, s)
}

// Config configures a Node. Start from DefaultConfig, set ID, Sites and
// Log, then call Validate (New does).
type Config struct {
	// ID is this site's id, non-zero.
	ID SiteID
	// Priority of this site; 0 = never master.
	Priority uint32
	// Electability is how this site tells the others to count it.
	// ElectabilityUnknown (the default) means by Priority. With
	// elections the driver sets it from the class elect fixed at the
	// site's first start (elect.HardState.Class), so that a site
	// restarted, or set at run time, with another priority is still
	// counted as it was when its acks and votes were counted.
	Electability Electability
	// Sites are the other members of the group (not this site).
	Sites []Site
	// StartDisconnected makes every other site count as disconnected until
	// PeerUp reports its connection, so status tells the truth about a
	// site that never connected. A driver whose transport reports
	// connections (rep/transport does) sets it; the default assumes every
	// site connected, for harnesses that deliver no connection events.
	StartDisconnected bool
	// Log is the local log, read for shipping, serving and verify.
	Log LogReader

	// AckPolicy decides permanence on the master. Default AckQuorum: a
	// commit reported permanent survives any failover.
	AckPolicy AckPolicy
	// Peer, when non-zero, is the client this client asks first for log
	// it lacks (client-to-client sync, requests marked "anywhere").
	Peer SiteID
	// DelayClient: do not synchronise with a new master until Sync is
	// called (Berkeley DB DB_REP_CONF_DELAYCLIENT). Default off.
	DelayClient bool
	// NoWait: operations on a synchronising client fail with ErrLockout
	// instead of waiting (DB_REP_CONF_NOWAIT). rep only reports it in
	// Status; the driver enforces it. Default off.
	NoWait bool
	// NoAutoInit: a client too far behind gets ErrJoinFailure and a
	// JoinFailure event instead of internal init (DB_REP_CONF_AUTOINIT
	// off). Default off, i.e. auto-init on, as in Berkeley DB.
	NoAutoInit bool
	// Bulk: records appended together travel in one LOG message
	// (DB_REP_CONF_BULK). Default on.
	Bulk bool

	// BulkBytes bounds the payload bytes of one LOG message. Default
	// 1 MiB, Berkeley DB's bulk buffer size; a single record larger than
	// it is sent alone.
	BulkBytes int
	// ThrottleBytes bounds the bytes sent in answer to one LOG_REQ (one
	// "pass"); the master then sends LOG_MORE and the client asks for the
	// rest, so each client is served at its own pace. At least one record
	// is sent per pass. 0 = unlimited. Default 1 MiB (Berkeley DB's
	// rep_set_limit default is 10 MiB): a pass is read and sent on the
	// serving site's replication loop, which also sends its heartbeats,
	// and 10 MiB took that loop 100-850 ms on a loaded 2-core machine,
	// enough for the other clients to call an election. The client asks
	// for the next pass before it syncs this one, so smaller passes cost
	// no throughput.
	ThrottleBytes int
	// GapBufferBytes bounds the records a client holds that arrived ahead
	// of a gap; beyond it they are dropped and requested again later.
	// Default 4 MiB.
	GapBufferBytes int
	// InitChunkBytes is the size of one snapshot chunk (PAGE) in internal
	// init. Default 256 KiB: big enough to amortise a round trip, small
	// enough to interleave with live log traffic.
	InitChunkBytes int
	// InitRetainMaxBytes bounds the log a site retains for one client's
	// internal init: from the moment the snapshot is taken until the
	// client has caught up past it, the serving site (master, or peer)
	// keeps its log from the snapshot's LSN (Status.RetainLSN), so the
	// client cannot fall behind the log again and loop through init.
	// If more than this many bytes of log (record payload plus 24 bytes
	// each) are written after the snapshot before the client caught up,
	// the site stops retaining for it and the client stops with
	// ErrInitAbandoned and EventInitFailed rather than start over. The
	// disk an init can pin is thus at most this much log. Default 1 GiB:
	// minutes of a busy master's log, far more than a client that can
	// keep up at all needs. 0 = no bound (retain until caught up).
	InitRetainMaxBytes int64
	// Resume is a snapshot this client had partly received when it last
	// stopped, whose bytes the driver kept (env keeps them in its
	// directory): if the site serving the next init still offers the
	// same snapshot, the transfer resumes at Resume.Offset instead of
	// starting over. Nil: nothing to resume.
	Resume *InitResume
	// Shared is the newest record of the local log this site knew to
	// be committed when it last ran (its commit point then, kept by
	// the driver: env stores it with the applier's batches): every later
	// master's history holds it. An init after a restart then discards
	// (writes to a rollback file, counts against MaxRollbackBytes) only
	// the records after it, not the whole log. Zero: unknown. A value
	// past the log's end is taken as the log's end.
	Shared lsn.LSN
	// MaxRollbackBytes bounds what a client discards of its own log
	// without an operator: a rollback to the sync point, or the records
	// an internal init throws away (those the master may not hold; see
	// discard.go), of more than this many bytes (record payload plus 24
	// bytes each) is refused: the client stops in SyncRollbackRefused
	// with Status.Err wrapping ErrRollbackRefused and
	// EventRollbackRefused, until AllowRollback lets it proceed once
	// (Oracle JE's rollback limit; Berkeley DB's AUTOROLLBACK off).
	// 0 = no limit, the default.
	MaxRollbackBytes int64

	// HeartbeatTicks: the master sends HEARTBEAT when it has sent
	// nothing for this long. Default 100 (1 s). Berkeley DB leaves
	// heartbeats off; logship turns them on so a silent master and a lost
	// tail record are noticed. 0 = off.
	HeartbeatTicks int
	// HeartbeatMonitorTicks: a client that hears nothing from its master
	// for this long emits EventMasterSilent. Must exceed HeartbeatTicks so
	// one late heartbeat is not an outage. Default 300 (3 s). 0 = off.
	HeartbeatMonitorTicks int
	// AckTimeoutTicks: a commit whose ack policy is not met this long
	// after it was appended is reported not permanent (it stays
	// committed) with EventPermFailed. Default 100 (1 s), Berkeley DB's
	// DB_REP_ACK_TIMEOUT.
	AckTimeoutTicks int
	// RequestMinTicks is the first retransmission wait for a missing log
	// range or chunk; it doubles per retry up to RequestMaxTicks. It is
	// also how long a request to the peer may go unanswered before it is
	// re-requested from the master. Default 4 (40 ms), Berkeley DB's
	// rep_set_request minimum.
	RequestMinTicks int
	// RequestMaxTicks caps the retransmission back-off. Default 128
	// (1.28 s), Berkeley DB's rep_set_request maximum.
	RequestMaxTicks int
}

// DefaultConfig returns the defaults documented on each field. ID, Sites
// and Log must still be set.
func DefaultConfig() Config {
	return Config{
		AckPolicy:             AckQuorum,
		Bulk:                  true,
		BulkBytes:             1 << 20,
		ThrottleBytes:         1 << 20,
		GapBufferBytes:        4 << 20,
		InitChunkBytes:        256 << 10,
		InitRetainMaxBytes:    1 << 30,
		HeartbeatTicks:        100,
		HeartbeatMonitorTicks: 300,
		AckTimeoutTicks:       100,
		RequestMinTicks:       4,
		RequestMaxTicks:       128,
	}
}

// MaxChunkBytes bounds InitChunkBytes so a PAGE fits in one message.
const MaxChunkBytes = 8 << 20

// Validate reports every bad field, naming it; it never mutates c.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, args...)...))
	}
	if c.ID == 0 {
		bad("ID must be non-zero")
	}
	if c.Log == nil {
		bad("Log must be set")
	}
	seen := map[SiteID]bool{}
	for i, s := range c.Sites {
		switch {
		case s.ID == 0:
			bad("Sites[%d].ID must be non-zero", i)
		case s.ID == c.ID:
			bad("Sites[%d].ID (%d) is this site's own ID", i, s.ID)
		case seen[s.ID]:
			bad("Sites[%d].ID (%d) is listed twice", i, s.ID)
		case s.Witness:
			bad("Sites[%d] (%d) is a witness, which keeps no log; leave it out", i, s.ID)
		}
		seen[s.ID] = true
	}
	if c.Peer != 0 && !seen[c.Peer] {
		bad("Peer (%d) is not in Sites", c.Peer)
	}
	if int(c.Electability) >= len(electabilityNames) {
		bad("Electability (%d) is not a known value", c.Electability)
	}
	if int(c.AckPolicy) >= len(ackPolicyNames) {
		bad("AckPolicy (%d) is not a known policy", c.AckPolicy)
	}
	nonNeg := func(name string, v int) {
		if v < 0 {
			bad("%s (%d) must be >= 0", name, v)
		}
	}
	nonNeg("BulkBytes", c.BulkBytes)
	nonNeg("ThrottleBytes", c.ThrottleBytes)
	nonNeg("GapBufferBytes", c.GapBufferBytes)
	if c.InitRetainMaxBytes < 0 {
		bad("InitRetainMaxBytes (%d) must be >= 0", c.InitRetainMaxBytes)
	}
	if c.MaxRollbackBytes < 0 {
		bad("MaxRollbackBytes (%d) must be >= 0 (0 = no limit)", c.MaxRollbackBytes)
	}
	nonNeg("HeartbeatTicks", c.HeartbeatTicks)
	nonNeg("HeartbeatMonitorTicks", c.HeartbeatMonitorTicks)
	if c.InitChunkBytes < 1 || c.InitChunkBytes > MaxChunkBytes {
		bad("InitChunkBytes (%d) must be in [1, %d]", c.InitChunkBytes, MaxChunkBytes)
	}
	if c.AckTimeoutTicks < 1 {
		bad("AckTimeoutTicks (%d) must be >= 1", c.AckTimeoutTicks)
	}
	if c.RequestMinTicks < 1 {
		bad("RequestMinTicks (%d) must be >= 1", c.RequestMinTicks)
	}
	if c.RequestMaxTicks < c.RequestMinTicks {
		bad("RequestMaxTicks (%d) must be >= RequestMinTicks (%d)", c.RequestMaxTicks, c.RequestMinTicks)
	}
	if c.HeartbeatTicks > 0 && c.HeartbeatMonitorTicks > 0 && c.HeartbeatMonitorTicks <= c.HeartbeatTicks {
		bad("HeartbeatMonitorTicks (%d) must be > HeartbeatTicks (%d)", c.HeartbeatMonitorTicks, c.HeartbeatTicks)
	}
	return errors.Join(errs...)
}
