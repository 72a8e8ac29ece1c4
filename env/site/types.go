package site

import (
	"errors"
	"fmt"
	"time"

	"logship/elect"
	"logship/env"
	"logship/internal/sitecore"
	"logship/rep"
	"logship/wal/lsn"
)

// Replication types, re-exported so that embedders (and cmd) need only
// env and this package.
type (
	SiteID       = rep.SiteID
	AckPolicy    = rep.AckPolicy
	Role         = rep.Role
	SyncState    = rep.SyncState
	RepEvent     = rep.Event
	EventType    = rep.EventType
	Electability = rep.Electability
	ElectEvent   = elect.Event
	ElectStatus  = elect.Status
	ElectStats   = elect.Stats
)

// Member is a member of the group: its id, its addresses, whether it
// votes (NonVoting: a "view" site) and whether it is a witness (it votes,
// keeps no data, never becomes master). See rep.Member and members.go.
type Member = rep.Member

// Membership is the group as a site knows it (Site.Members): every
// member, the LSN of the record that set it (Zero: the configured
// sites) and whether that record is still pending. See rep.Membership.
type Membership = rep.Membership

// ParseAckPolicy reads an ack policy name ("quorum", "one_peer", ...).
func ParseAckPolicy(s string) (AckPolicy, error) { return rep.ParseAckPolicy(s) }

// Event is a replication event (Rep) or an election event (Elect); one
// of the two is set.
type Event struct {
	Rep   *RepEvent
	Elect *ElectEvent
}

// Sentinel errors. Each also matches the protocol's sentinel of the same
// name with errors.Is.
var (
	// ErrClosed: the site was closed.
	ErrClosed = errors.New("site: closed")
	// ErrNotMaster: a write on a site that is not the master. The error
	// returned is a *NotMasterError naming the master.
	ErrNotMaster = fmt.Errorf("site: not master: %w", rep.ErrNotMaster)
	// ErrLockout: an operation on a client that is synchronising (verify,
	// rollback, internal init) with NoWait configured.
	ErrLockout = fmt.Errorf("site: %w", rep.ErrLockout)
	// ErrJoinFailure: the client is too far behind its master to catch
	// up from the log and NoAutoInit forbids internal init.
	ErrJoinFailure = fmt.Errorf("site: %w", rep.ErrJoinFailure)
	// ErrRollbackRefused: the client stopped rather than discard more of
	// its own log than Config.MaxRollbackBytes allows (Status.Err wraps
	// it; AllowRollback lets it proceed once).
	ErrRollbackRefused = fmt.Errorf("site: %w", rep.ErrRollbackRefused)
	// ErrNoRollbackRefused: AllowRollback on a client that refused
	// nothing.
	ErrNoRollbackRefused = fmt.Errorf("site: %w", rep.ErrNoRollbackRefused)
	// ErrElections: an appointment (StartMaster, StartClient) on a site
	// whose master elections choose, or an election command (Elect,
	// Transfer) on one without elections.
	ErrElections = errors.New("site: not allowed with this site's election setting")
	// ErrLeaseExpired: a lease read (ViewLease), or a write, on a master
	// that does not hold a valid master lease (lease.go). It also matches
	// elect.ErrLeaseExpired.
	ErrLeaseExpired = fmt.Errorf("site: %w", elect.ErrLeaseExpired)
	// ErrTransferFailed: a planned transfer (Transfer) ended without the
	// target becoming master: it did not catch up and win in time,
	// another site won, this master stepped down, or the target refused
	// (elect.ErrNotElectable: its priority is 0).
	ErrTransferFailed = errors.New("site: mastership transfer failed")
	// ErrBadTarget: a transfer to a site that cannot become master: not
	// a member, or a witness. It wraps elect's reason (elect.ErrUnknownSite,
	// elect.ErrWitness).
	ErrBadTarget = errors.New("site: bad transfer target")
)

// NotMasterError is returned by Update on a site that is not the master.
// It matches ErrNotMaster (and rep.ErrNotMaster) with errors.Is.
type NotMasterError struct {
	Master SiteID // the master this site knows; 0 if none
}

func (e *NotMasterError) Error() string {
	if e.Master == 0 {
		return "site: not master; no master known"
	}
	return fmt.Sprintf("site: not master; the master is site %d", e.Master)
}

func (e *NotMasterError) Unwrap() error { return ErrNotMaster }

// SiteStatus is the master's view of another site. Except for ID and
// Connected, the fields are the master's only (zero on a client); LSNs
// name records, as everywhere: a caught-up site has FlushedLSN =
// AppliedLSN = Status.LSN. See progress.go.
type SiteStatus struct {
	ID SiteID
	// Electability is how the site said the group counts it (unknown
	// until it has): only electable sites' acks count for the one_peer,
	// all_peers and quorum policies.
	Electability Electability
	Connected    bool
	Witness      bool    // a witness: only ID and Connected are set
	Acked        lsn.LSN // durable LSN the site acknowledged; the same as FlushedLSN
	LagBytes     int64   // log bytes from Acked to the newest record

	SentLSN    lsn.LSN // newest record shipped to the site
	FlushedLSN lsn.LSN // newest record durable there (Acked)
	AppliedLSN lsn.LSN // newest record its readers see; zero if it does not report it
	// LagTime is how long ago the master appended the oldest record the
	// site has not made durable (0 when caught up).
	LagTime time.Duration
	// ApplyLagTime is the same for the records the site has not applied
	// (PostgreSQL's replay_lag): how long ago the master appended the
	// oldest record its readers do not see yet; 0 when they see the
	// master's last record, -1 when the site does not report what it
	// applied.
	ApplyLagTime time.Duration
	// CatchUpETA estimates when the site will have caught up, at its
	// recent flush rate: 0 when caught up, -1 when it is not progressing.
	CatchUpETA time.Duration
	// DataMismatch is the record after which the site reported a digest
	// of its data that differs from this master's (env's data digest):
	// its data is damaged or diverged. Zero when the last comparison
	// matched (or none was possible).
	DataMismatch lsn.LSN
	// An internal init this master serves the site (zero when none):
	// snapshot bytes sent and the snapshot's size, the copy's recent
	// rate in bytes per second (0 until measured) and the time left at
	// that rate (-1 when not progressing).
	InitSentBytes, InitTotalBytes int64
	InitRate                      float64
	InitETA                       time.Duration
}

// Status is a site's replication status.
type Status struct {
	ID         SiteID
	Role       Role
	Master     SiteID
	Gen        uint64
	LSN        lsn.LSN // the newest record in the log
	EndLSN     lsn.LSN // end of log: where the next record will be appended
	DurableLSN lsn.LSN
	AppliedLSN lsn.LSN
	MasterLSN  lsn.LSN // client: the newest master LSN heard of
	// CommitLSN is the commit point as this site knows it: records up to
	// it are durable on a majority of the electable sites, and no
	// failover rolls them back (rep.Node.Commit). Zero when unknown.
	CommitLSN lsn.LSN
	SyncState SyncState
	Lockout   bool
	InitDone  int64 // internal init: bytes received of InitTotal
	InitTotal int64
	// Installing: internal init received the whole snapshot and the site
	// is installing it (SyncState stays SyncInit meanwhile); see
	// publishInstalling.
	Installing bool
	Err        error // ErrJoinFailure, an abandoned init, or the storage failure
	Sites      []SiteStatus

	// BehindBytes (client): log bytes from LSN to MasterLSN, what it
	// still has to fetch as far as it knows.
	BehindBytes int64
	// StorageFailed: the environment failed (a full disk, an I/O error,
	// no file descriptors left, a damaged data file; Err says which) and
	// this site stopped replicating: a master stepped down, a client
	// stopped syncing. It takes part again once repaired and restarted.
	StorageFailed bool
	// WriteErr is nil when the site accepts writes now.
	WriteErr error
	// MemberErr is nil when this site is a member of the group; else it
	// wraps ErrNotMember and says why: never added (Config.Join, still
	// waiting), or removed by the record at an LSN. A site that is not a
	// member is not counted, does not vote and is refused by the others.
	MemberErr error
	// Members is the membership this site uses (Site.Members).
	Members Membership
}

// Stats are rep's counters plus the site's.
type Stats struct {
	rep.Stats
	BadMessages   uint64 // bodies the core rejected
	SendErrors    uint64 // messages the transport refused (not connected, queue full)
	EventsDropped uint64 // events that did not fit in Config.Events
	Fsyncs        uint64 // client log syncs made by the site
	SlowTurns     uint64 // turns of the loop that took over 100 ms (logged; heartbeats waited)
	// PromisedDrops: rep messages of a master older than the newest
	// election this site voted in, dropped (elect HardState.Promised).
	PromisedDrops uint64
}

// writeRefusal maps the core's refusal of a write (sitecore's WriteErr)
// to the error a caller sees: every refusal matches ErrNotMaster, so
// callers that send writes to the master need no other case; an expired
// lease also matches ErrLeaseExpired, and elect's other reasons (a new
// master waiting out leases, not mirrored, a transfer, a stall) are
// wrapped; a plain "not the master" is a *NotMasterError naming it.
func writeRefusal(master SiteID, err error) error {
	if errors.Is(err, elect.ErrLeaseExpired) {
		return fmt.Errorf("%w: %w", ErrNotMaster, ErrLeaseExpired)
	}
	for _, reason := range []error{elect.ErrLeaseWait, elect.ErrNotMirrored, elect.ErrTransferring, elect.ErrStalled, sitecore.ErrHalted} {
		if errors.Is(err, reason) {
			return fmt.Errorf("%w: %w", ErrNotMaster, reason)
		}
	}
	return &NotMasterError{Master: master}
}

// storageErr says whether err is the environment's failure.
func storageErr(err error) bool { return errors.Is(err, env.ErrFailed) }

// errIs reports whether err is one of targets.
func errIs(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
