package elect

import "errors"

// Sentinel errors. Wrap them with %w when adding context.
var (
	// ErrBadConfig is wrapped by every Config.Validate error.
	ErrBadConfig = errors.New("elect: invalid config")
	// ErrBadMessage is wrapped by every Unmarshal error.
	ErrBadMessage = errors.New("elect: malformed message")
	// ErrWitness rejects an input a witness cannot act on (Campaign,
	// Transfer, SetPriority above 0): a witness never becomes master.
	ErrWitness = errors.New("elect: site is a witness")
	// ErrNotElectable rejects Campaign on a site of priority 0; a transfer
	// whose target refused (it has priority 0) fails with it too.
	ErrNotElectable = errors.New("elect: site has priority 0 and cannot become master")
	// ErrNotLeader rejects a master-only input (Transfer) on a site that
	// is not the elected master. (rep's ErrNotMaster is for log writes.)
	ErrNotLeader = errors.New("elect: site is not master")
	// ErrLeaseExpired is what the driver returns to a lease-protected
	// read (or a write) on a master that does not hold a majority of
	// valid lease grants (Berkeley DB DB_REP_LEASE_EXPIRED).
	ErrLeaseExpired = errors.New("elect: master lease expired")
	// ErrLeaseWait is what the driver returns to a write on a new master
	// that is still waiting out the leases the previous master could hold.
	ErrLeaseWait = errors.New("elect: new master waiting for old leases to expire")
	// ErrNotMirrored is what the driver returns to a write on a master of
	// a two-data-site group that lost the other data site and does not
	// hold the witness's grant.
	ErrNotMirrored = errors.New("elect: not mirrored and no witness grant")
	// ErrTransferring is what the driver returns to a write on a master
	// handing mastership over (Transfer).
	ErrTransferring = errors.New("elect: mastership transfer in progress")
	// ErrStalled rejects Campaign on a site whose log cannot be made
	// durable (StepDown, until Recovered).
	ErrStalled = errors.New("elect: site stalled: its log cannot be made durable")
	// ErrUnknownSite rejects an input naming a site not in Config.Sites.
	ErrUnknownSite = errors.New("elect: unknown site")
)
