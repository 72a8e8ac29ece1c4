package elect

// leaseState is a master's view of its lease grants.
type leaseState struct {
	wonAt   uint64            // tick this site became master
	grants  map[SiteID]uint64 // newest request stamp each site granted
	nextReq uint64            // tick of the next LEASE_REQ broadcast
	held    bool              // held at the last tick (for EventLeaseExpired)
}

func (n *Node) leaseHeld() bool {
	stamps := make([]uint64, 0, len(n.lease.grants))
	for _, id := range sortedKeys(n.lease.grants) {
		stamps = append(stamps, n.lease.grants[id])
	}
	return LeaseHeld(stamps, n.now, n.cfg.size(), n.cfg.LeaseTicks, n.cfg.ClockSkew)
}

// tickLease refreshes the grants every HeartbeatTicks and reports their
// loss.
func (n *Node) tickLease() {
	if !n.cfg.Leases {
		return
	}
	if n.now >= n.lease.nextReq {
		n.broadcast(Message{Type: MsgLeaseReq, Gen: n.gen, Stamp: n.now})
		n.stats.LeaseReqsSent += uint64(len(n.cfg.Sites))
		n.lease.nextReq = n.now + uint64(n.cfg.HeartbeatTicks)
	}
	held := n.leaseHeld()
	if n.lease.held && !held {
		n.stats.LeasesExpired++
		n.event(EventLeaseExpired, n.cfg.ID, n.gen)
	}
	n.lease.held = held
}

// stepLeaseReq grants a lease to the master asking, unless this site
// voted for another candidate whose election may still be won.
func (n *Node) stepLeaseReq(m Message) {
	if m.Gen < n.gen || m.Gen == n.gen && m.From != n.master {
		n.stats.LeaseRefused++
		return
	}
	if n.hs.VotedFor != 0 && n.hs.VotedFor != m.From && m.Gen < n.hs.EGen && n.now < n.grantBlock {
		n.stats.LeaseRefused++
		return
	}
	if m.Gen > n.gen || n.role != RoleClient {
		n.MasterSeen(m.From, m.Gen)
		if n.master != m.From || n.gen != m.Gen {
			n.stats.LeaseRefused++
			return
		}
	}
	n.stats.LeaseGrantsSent++
	n.send(Message{Type: MsgLeaseGrant, To: m.From, Gen: m.Gen, Stamp: m.Stamp})
}

// LeaseGranted records that site from granted the lease requested by this
// master of gen at tick stamp (this site's clock). The driver calls it for
// grants piggybacked on other traffic; LEASE_GRANT messages arrive here.
func (n *Node) LeaseGranted(from SiteID, gen, stamp uint64) {
	if n.role != RoleMaster || gen != n.gen || !n.cfg.Leases || stamp > n.now {
		n.stats.MsgsIgnored++
		return
	}
	if _, ok := n.sites[from]; !ok {
		return
	}
	n.stats.LeaseGrantsRecv++
	if stamp > n.lease.grants[from] {
		n.lease.grants[from] = stamp
	}
	n.lease.held = n.leaseHeld()
}

// CanReadLease reports whether a lease-protected read may be served now:
// this site is master, waited out the previous master's leases, and holds
// a majority of valid grants. Without Leases it is CanWrite.
func (n *Node) CanReadLease() bool {
	if !n.cfg.Leases {
		return n.CanWrite()
	}
	return n.role == RoleMaster && n.leaseWaitOver() && n.leaseHeld()
}

func (n *Node) leaseWaitOver() bool {
	return LeaseWaitOver(n.lease.wonAt, n.now, n.cfg.LeaseTicks, n.cfg.ClockSkew)
}

// CanWrite reports whether this site may accept writes now.
func (n *Node) CanWrite() bool { return n.WriteErr() == nil }

// WriteErr returns nil when this site may accept writes now, else why
// not: ErrNotLeader, ErrTransferring, ErrLeaseWait, ErrLeaseExpired or
// ErrNotMirrored. The driver checks it before each commit (rep's
// ErrNotMaster is the driver's answer for ErrNotLeader).
func (n *Node) WriteErr() error {
	switch {
	case n.role != RoleMaster:
		return ErrNotLeader
	case n.xfer.to != 0:
		return ErrTransferring
	case n.cfg.Leases && !n.leaseWaitOver():
		return ErrLeaseWait
	case n.cfg.Leases && !n.leaseHeld():
		return ErrLeaseExpired
	case !n.agentOK():
		return ErrNotMirrored
	}
	return nil
}

// LeaseValidTicks returns for how many more ticks CanReadLease is certain
// to hold even if no further grant arrives: 0 when it does not hold now.
// The driver turns it into a wall-clock deadline that readers compare
// against, so a lease read needs no round trip to the node's goroutine.
// A master that is a majority on its own renews its lease every tick; it
// gets LeaseTicks-ClockSkew, like a fresh grant.
func (n *Node) LeaseValidTicks() uint64 {
	if !n.cfg.Leases || n.role != RoleMaster || !n.leaseWaitOver() {
		return 0
	}
	stamps := make([]uint64, 0, len(n.lease.grants))
	for _, s := range n.lease.grants {
		stamps = append(stamps, s)
	}
	end := LeaseExpiry(stamps, n.cfg.size(), n.cfg.LeaseTicks, n.cfg.ClockSkew)
	switch {
	case end == ^uint64(0):
		return uint64(max(n.cfg.LeaseTicks-n.cfg.ClockSkew, 0))
	case end <= n.now:
		return 0
	}
	return end - n.now
}
