package rep

import (
	"fmt"

	"logship/wal/lsn"
)

// Role is a site's part in the group.
type Role uint8

const (
	// RoleNone: replication not started (before BecomeMaster/BecomeClient).
	RoleNone Role = iota
	RoleMaster
	RoleClient
)

func (r Role) String() string {
	switch r {
	case RoleMaster:
		return "master"
	case RoleClient:
		return "client"
	}
	return "none"
}

// SyncState is where a client stands with its master.
type SyncState uint8

const (
	// SyncNone: a master, or not started.
	SyncNone SyncState = iota
	// SyncDelayed: a new master is known; waiting for Sync (DelayClient).
	// The old data stays readable.
	SyncDelayed
	// SyncVerify: walking back to the sync point. Locked out.
	SyncVerify
	// SyncInit: internal init in progress. Locked out.
	SyncInit
	// SyncCatchup: synchronised, requesting the log from the sync point.
	SyncCatchup
	// SyncReady: caught up, processing live records (StartupDone).
	SyncReady
	// SyncJoinFailed: too far behind with NoAutoInit. Status.Err wraps
	// ErrJoinFailure. Sync retries.
	SyncJoinFailed
	// SyncInitFailed: the master stopped retaining the log this client
	// needed to catch up after internal init (InitRetainMaxBytes).
	// Status.Err wraps ErrInitAbandoned. Sync retries.
	SyncInitFailed
	// SyncRollbackRefused: syncing would discard more of the client's own
	// log than MaxRollbackBytes allows (a rollback to the sync point, or
	// internal init). Nothing was discarded. Status.Err wraps
	// ErrRollbackRefused. AllowRollback lets it proceed once; Sync
	// retries (and is refused again unless something changed).
	SyncRollbackRefused
)

var syncStateNames = [...]string{"none", "delayed", "verify", "init", "catchup", "ready", "join_failed", "init_failed", "rollback_refused"}

func (s SyncState) String() string {
	if int(s) < len(syncStateNames) {
		return syncStateNames[s]
	}
	return fmt.Sprintf("SyncState(%d)", uint8(s))
}

// Status is the node's externally visible state.
type Status struct {
	ID        SiteID
	Role      Role
	Master    SiteID
	Gen       uint64
	SyncState SyncState
	// Lockout is true while a client's data may be rolled back or replaced
	// (verify, init): the driver makes operations wait, or fail with
	// ErrLockout when NoWait is set.
	Lockout bool
	// NoWait echoes Config.NoWait.
	NoWait bool
	// Err is non-nil when the site cannot continue: it wraps
	// ErrJoinFailure, ErrInitAbandoned or ErrRollbackRefused.
	Err error
	// Last is the newest record in (or handed to the driver for) the
	// local log; Durable the newest the driver reported persisted.
	Last, Durable lsn.LSN
	// MasterLast is the newest master LSN this client has heard of.
	MasterLast lsn.LSN
	// Commit is the commit point as this site knows it (Node.Commit):
	// records up to it are durable on a majority of the electable sites
	// and no failover rolls them back.
	Commit lsn.LSN
	// Shared is the newest record of the local log known to be in every
	// later master's history: the commit point this site knows now or
	// knew before (discard.go). A driver keeps it across restarts and
	// gives it back as Config.Shared.
	Shared lsn.LSN
	// InitDone/InitTotal: bytes of the snapshot received / its size.
	InitDone, InitTotal int64
	// RetainLSN: the log from this LSN must be kept for an init this
	// site serves (master, or a client serving its peer); Zero when
	// nothing needs retaining. See [Node.RetainLSN].
	RetainLSN lsn.LSN
}

// outbox accumulates side effects until Advance.
type outbox struct {
	rollback     *Rollback
	chunks       []Chunk
	install      *Install
	appends      []Record
	msgs         []Message
	takeSnap     bool
	releaseSnaps []uint64
	commits      []CommitResult
	events       []Event
	lastStatus   Status
}

// Node is one site's replication state machine. It is not safe for
// concurrent use: one goroutine (the env driver) owns it.
type Node struct {
	cfg    Config
	log    LogReader
	role   Role
	gen    uint64
	master SiteID
	now    uint64 // ticks since New

	last    lsn.LSN // newest record in the local log or handed to Append
	durable lsn.LSN
	written uint64 // bytes of records added to the local log (Record.size), for InitRetainMaxBytes

	// shared: the newest record of the local log known to be in every
	// later master's history (the commit point this site last knew);
	// allowRollback: AllowRollback was called and not used yet
	// (discard.go).
	shared        lsn.LSN
	allowRollback bool

	sites map[SiteID]*siteState
	m     masterState
	c     clientState
	sv    snapServer // snapshot served for internal init (init.go)
	// partial: the snapshot this client got part of and where it stopped
	// (Config.Resume, or an init cut short in this process); it outlives
	// clientState's resets, so an init resumes across role changes.
	partial InitResume

	// selfElectable: the group counts this site as electable
	// (Config.Electability, by default its configured priority > 0);
	// SetPriority does not change it (settings.go).
	selfElectable bool
	// selfOut: this site is not a voting member (SetSites): a master
	// being removed, or a non-voting member, does not count itself.
	selfOut bool

	// syncAsked: Sync was called on a delayed client that did not yet
	// know its master's generation (gen 0, as after a restart). The
	// master's first announcement then starts the sync instead of
	// delaying it again.
	syncAsked bool

	out   outbox
	stats Stats
}

// siteState is what this node knows about another site.
type siteState struct {
	Site
	connected bool
	// electable: how the site says it is counted (its ACK and NEWCLIENT
	// messages); ElectabilityUnknown until it has (ack.go).
	electable Electability
	acked     lsn.LSN // master: durable LSN acknowledged at our gen
	sent      lsn.LSN // master: newest record shipped at our gen (progress.go)
	applied   lsn.LSN // master: newest record the site reported applied
	// appliedDigest: the digest of the site's data after applied, as it
	// reported it (0: not reported).
	appliedDigest uint64
	// Serving this site an internal init (init.go), as master or peer:
	initLSN       lsn.LSN // retained from here while the site is in init
	initTarget    lsn.LSN // the init ends when the site reaches this
	initMark      uint64  // Node.written at the snapshot, for InitRetainMaxBytes
	initWait      bool    // UPDATE_REQ waiting for a snapshot
	initAbandoned bool    // retention given up (InitRetainMaxBytes)
	// initSent, initSize: bytes of the snapshot served to the site so
	// far (the end of the last chunk) and its size, for the status;
	// initCopied once the last chunk went out, initInstalled once the
	// site then reported a position at or past the snapshot: the
	// snapshot file is no longer needed for it.
	initSent, initSize int64
	initCopied         bool
	initInstalled      bool
}

// New returns a node in RoleNone over cfg.Log, which it assumes durable.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	self := cfg.Electability == Electable || cfg.Electability == ElectabilityUnknown && cfg.Priority > 0
	n := &Node{cfg: cfg, log: cfg.Log, sites: map[SiteID]*siteState{}, selfElectable: self}
	for _, s := range cfg.Sites {
		n.sites[s.ID] = &siteState{Site: s, connected: !cfg.StartDisconnected}
	}
	n.last = cfg.Log.Last()
	n.durable = n.last
	n.shared = lsn.Min(cfg.Shared, n.last)
	if r := cfg.Resume; r != nil && r.Snap.ID != 0 && r.Offset > 0 && r.Offset < r.Snap.Size {
		n.partial = *r
	}
	n.out.lastStatus = n.Status()
	return n, nil
}

// Role is Status().Role, without building a Status: the site core asks
// for these on every input.
func (n *Node) Role() Role { return n.role }

// Master is Status().Master.
func (n *Node) Master() SiteID { return n.master }

// Gen is Status().Gen.
func (n *Node) Gen() uint64 { return n.gen }

// Last is Status().Last.
func (n *Node) Last() lsn.LSN { return n.last }

// Durable is Status().Durable.
func (n *Node) Durable() lsn.LSN { return n.durable }

// Status returns the node's current status.
func (n *Node) Status() Status {
	st := Status{
		ID: n.cfg.ID, Role: n.role, Master: n.master, Gen: n.gen,
		NoWait: n.cfg.NoWait, Last: n.last, Durable: n.durable, Commit: n.Commit(),
	}
	st.Shared = lsn.Max(n.shared, lsn.Min(st.Commit, n.last))
	switch n.role {
	case RoleClient:
		st.SyncState = n.c.state
		st.Lockout = n.c.state == SyncVerify || n.c.state == SyncInit
		st.MasterLast = n.c.masterLast
		st.InitDone, st.InitTotal = n.c.initOffset, n.c.snap.Size
		st.Err = n.c.err
	}
	st.RetainLSN = n.RetainLSN()
	return st
}

// SiteStatus is the master's view of another site.
type SiteStatus struct {
	ID SiteID
	// Electability is how the site said it is counted (unknown until
	// it has).
	Electability Electability
	Connected    bool
	// Acked is the durable LSN the site acknowledged (master only):
	// PostgreSQL's flush_lsn.
	Acked lsn.LSN
	// Sent is the newest record shipped to the site, or Acked if that is
	// newer (records it got from its peer); Applied the newest it
	// reported visible to its readers (Zero if it does not report it).
	// Master only, like Acked; see progress.go.
	Sent, Applied lsn.LSN
	// AppliedDigest is the digest of the site's data after Applied, as
	// it reported it (0: not reported).
	AppliedDigest uint64
	// InitSent and InitSize describe an internal init this site serves
	// the site: snapshot bytes sent so far and the snapshot's size (both
	// 0 when none is being copied).
	InitSent, InitSize int64
}

// Sites returns the view of every other site, in Config.Sites order.
func (n *Node) Sites() []SiteStatus {
	out := make([]SiteStatus, 0, len(n.cfg.Sites))
	for _, s := range n.cfg.Sites {
		st := n.sites[s.ID]
		out = append(out, SiteStatus{ID: s.ID, Electability: st.electable, Connected: st.connected, Acked: st.acked,
			Sent: lsn.Max(st.sent, st.acked), Applied: st.applied, AppliedDigest: st.appliedDigest,
			InitSent: st.initSent, InitSize: st.initSize})
	}
	return out
}

// newClient is this site's NEWCLIENT announcement to master.
func (n *Node) newClient(master SiteID) Message {
	return Message{Type: MsgNewClient, To: master, Priority: n.cfg.Priority, LSN: n.last, Electability: n.electability()}
}

// electability is how this site tells the others to count it.
func (n *Node) electability() Electability {
	if n.selfElectable {
		return Electable
	}
	return Unelectable
}

func (n *Node) send(m Message) {
	m.V = Version
	m.From = n.cfg.ID
	m.Gen = n.gen
	n.out.msgs = append(n.out.msgs, m)
}

func (n *Node) event(e Event) { n.out.events = append(n.out.events, e) }

// broadcast sends m to every connected site.
func (n *Node) broadcast(m Message) {
	for _, s := range n.cfg.Sites {
		if n.sites[s.ID].connected {
			m.To = s.ID
			n.send(m)
		}
	}
}

// Step processes one received message. Messages from unknown sites, of an
// older generation, or that make no sense in the current role are dropped
// and counted; Step returns an error only for a message addressed to
// another site.
func (n *Node) Step(m Message) error {
	if m.To != n.cfg.ID {
		return fmt.Errorf("rep: message for site %d delivered to %d", m.To, n.cfg.ID)
	}
	n.stats.MsgsRecv++
	s, ok := n.sites[m.From]
	if !ok {
		n.stats.MsgsIgnored++
		return nil
	}
	s.connected = true
	if m.Electability != ElectabilityUnknown {
		s.electable = m.Electability
	}
	if n.role == RoleNone {
		n.stats.MsgsIgnored++
		return nil
	}
	switch {
	case m.Gen < n.gen && m.Type != MsgNewClient && m.Type != MsgMasterReq:
		n.stats.MsgsBadGen++
		return nil
	case m.Gen > n.gen:
		if m.Type != MsgNewMaster && m.Type != MsgHeartbeat {
			n.stats.MsgsBadGen++
			if n.role == RoleClient {
				n.send(Message{Type: MsgMasterReq, To: m.From})
			}
			return nil
		}
		// A master of a newer generation: follow it.
		if n.role == RoleMaster {
			n.event(Event{Type: EventDupMaster, Site: m.From, Gen: m.Gen})
		}
		n.becomeClient(m.From, m.Gen)
	}
	switch n.role {
	case RoleMaster:
		n.stepMaster(m)
	case RoleClient:
		n.stepClient(m)
	default:
		n.stats.MsgsIgnored++
	}
	return nil
}

// Tick advances the node's clock by one tick (TickMillis).
func (n *Node) Tick() {
	n.now++
	switch n.role {
	case RoleMaster:
		n.tickMaster()
	case RoleClient:
		n.tickClient()
	}
}

// Persisted tells the node the local log is durable up to at.
func (n *Node) Persisted(at lsn.LSN) {
	at = lsn.Min(at, n.last)
	if !n.durable.Less(at) {
		return
	}
	n.durable = at
	switch n.role {
	case RoleMaster:
		n.checkPerms()
	case RoleClient:
		n.maybeAck()
	}
}

// PeerUp tells the node the connection to id is (re)established.
func (n *Node) PeerUp(id SiteID) {
	s, ok := n.sites[id]
	if !ok {
		return
	}
	s.connected = true
	if n.role == RoleClient && id == n.master {
		// Warm resume: announce ourselves and ask for what we lack.
		n.send(n.newClient(id))
		n.resume()
	}
}

// PeerDown tells the node the connection to id broke.
func (n *Node) PeerDown(id SiteID) {
	s, ok := n.sites[id]
	if !ok || !s.connected {
		return
	}
	s.connected = false
	n.forgetInFlight(s)
	n.event(Event{Type: EventConnectBroken, Site: id})
}

// BecomeMaster makes this site master of gen (Berkeley DB rep_start with
// DB_REP_MASTER). gen must not be older than the generation the site
// knows; records appended from now on must carry it.
func (n *Node) BecomeMaster(gen uint64) error {
	if gen < n.gen || gen == n.gen && n.role == RoleClient {
		return fmt.Errorf("%w: master gen %d, site knows %d", ErrStaleGen, gen, n.gen)
	}
	if n.role == RoleMaster && gen == n.gen {
		return nil
	}
	n.noteShared()
	n.role, n.gen, n.master = RoleMaster, gen, n.cfg.ID
	n.c = clientState{}
	n.abandonPending()
	n.m = masterState{}
	n.resetServing()
	for _, s := range n.sites {
		s.acked, s.sent, s.applied = lsn.Zero, lsn.Zero, lsn.Zero
	}
	n.stats.MasterChanges++
	n.event(Event{Type: EventNewMaster, Site: n.cfg.ID, Gen: gen})
	n.broadcast(Message{Type: MsgNewMaster, Last: n.last, Priority: n.cfg.Priority})
	return nil
}

// BecomeClient makes this site a client of master at gen (rep_start with
// DB_REP_CLIENT). A client already synchronised with the same master and
// generation resumes warm: no verify, and only records after its last one
// are requested. Otherwise it synchronises (verify, rollback, catch up),
// after Sync if DelayClient is set.
func (n *Node) BecomeClient(master SiteID, gen uint64) error {
	if _, ok := n.sites[master]; !ok {
		return fmt.Errorf("rep: master %d is not in Sites", master)
	}
	// The same generation is allowed: a master told to follow another
	// master of its own generation is yielding a duplicate-master
	// conflict (EventDupMaster); it syncs with the other, which rolls back
	// whatever the other lacks.
	if gen < n.gen {
		return fmt.Errorf("%w: client of gen %d, site knows %d", ErrStaleGen, gen, n.gen)
	}
	n.becomeClient(master, gen)
	return nil
}

// MasterHeard tells a client that its master spoke outside rep: the
// election layer heard it claim the role and decided, again, to follow it.
// The heartbeat monitor starts over, so that a master that then stays
// silent is reported again (EventMasterSilent is otherwise reported once
// per silence, and the first report may have been answered already by an
// election this claim cut short).
func (n *Node) MasterHeard(master SiteID, gen uint64) {
	if n.role == RoleClient && n.master == master && n.gen == gen {
		n.c.silent, n.c.silentSent = 0, false
	}
}

func (n *Node) becomeClient(master SiteID, gen uint64) {
	warm := n.role == RoleClient && n.master == master && n.gen == gen &&
		(n.c.state == SyncCatchup || n.c.state == SyncReady)
	if warm {
		n.send(n.newClient(master))
		n.resume()
		return
	}
	n.noteShared()
	if n.role == RoleMaster {
		n.abandonPending()
		n.m = masterState{}
	}
	prevMaster, prevGen := n.master, n.gen
	n.resetServing()
	n.keepPartial()
	n.role, n.master, n.gen = RoleClient, master, gen
	n.c = clientState{}
	n.c.reset(n.cfg)
	n.stats.MasterChanges++
	n.event(Event{Type: EventNewMaster, Site: master, Gen: gen})
	n.send(n.newClient(master))
	asked := n.syncAsked && master == prevMaster && prevGen == 0
	n.syncAsked = false
	if n.cfg.DelayClient && !asked {
		n.c.state = SyncDelayed
		n.stats.SyncsDelayed++
		n.event(Event{Type: EventSyncDelayed, Site: master, Gen: gen})
		return
	}
	n.startSync()
}

// Sync starts a delayed synchronisation with the master (rep_sync), or
// retries one that failed (SyncJoinFailed, SyncInitFailed,
// SyncRollbackRefused). It is a no-op otherwise.
func (n *Node) Sync() error {
	if n.role != RoleClient {
		return ErrNotClient
	}
	switch n.c.state {
	case SyncDelayed, SyncJoinFailed, SyncInitFailed, SyncRollbackRefused:
		n.c.err = nil
		n.syncAsked = n.gen == 0 && n.c.state == SyncDelayed
		n.startSync()
	}
	return nil
}
