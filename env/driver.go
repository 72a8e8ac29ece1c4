package env

// Replication on an environment: the driver.
//
// StartReplication starts ONE goroutine that owns the rep.Node. It
// receives transport messages (an envelope byte, then rep.Unmarshal or,
// with elections on, elect.Unmarshal: see elect.go; a body it rejects is
// logged and counted, never a panic), ticks on a real ticker, takes the records
// of local commits as soon as they are appended (so shipping overlaps the
// master's own fsync), carries out every Ready through the Replica in the
// contract order, and calls Advance. Everyone else talks to it through
// channels: commands (StartMaster, StartClient, Sync) run on the driver
// goroutine; commit results come back on per-commit channels; status,
// statistics and events are published by it.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"logship/elect"
	"logship/rep"
	"logship/rep/transport"
	"logship/wal/lsn"
)

// Replication types, re-exported so that embedders (and cmd) need only
// env.
type (
	SiteID    = rep.SiteID
	Site      = rep.Site
	AckPolicy = rep.AckPolicy
	Role      = rep.Role
	SyncState = rep.SyncState
	RepEvent  = rep.Event
	EventType = rep.EventType
	// Electability is how the group counts a site (rep.Electability).
	Electability = rep.Electability
)

// ParseAckPolicy reads an ack policy name ("quorum", "one_peer", ...).
func ParseAckPolicy(s string) (AckPolicy, error) { return rep.ParseAckPolicy(s) }

// NotMasterError is returned by Update on a site that is not the master.
// It matches ErrNotMaster (and rep.ErrNotMaster) with errors.Is.
type NotMasterError struct {
	Master SiteID // the master this site knows; 0 if none
}

func (e *NotMasterError) Error() string {
	if e.Master == 0 {
		return "env: not master; no master known"
	}
	return fmt.Sprintf("env: not master; the master is site %d", e.Master)
}

func (e *NotMasterError) Unwrap() error { return ErrNotMaster }

// ReplicationConfig configures replication on an environment. Start from
// DefaultReplicationConfig. Zero durations mean rep's defaults.
type ReplicationConfig struct {
	// Transport carries the messages; the caller owns it (Close does not
	// close it).
	Transport transport.Transport
	// ID is this site's id; Priority 0 = never master; Sites are the
	// other members of the group.
	ID       SiteID
	Priority uint32
	Sites    []Site

	// AckPolicy decides when a commit is permanent (default quorum).
	AckPolicy AckPolicy
	// Peer: client-to-client sync source (0 = none).
	Peer SiteID
	// DelayClient: do not sync with a new master until Env.Sync.
	DelayClient bool
	// NoWait: operations on a synchronising client fail with ErrLockout
	// instead of waiting.
	NoWait bool
	// NoAutoInit: a client too far behind fails with ErrJoinFailure
	// instead of internal init.
	NoAutoInit bool

	// Timeouts; zero = rep's default (ack 1 s, heartbeat 1 s, heartbeat
	// monitor 3 s, request back-off 40 ms to 1.28 s).
	AckTimeout        time.Duration
	HeartbeatInterval time.Duration
	HeartbeatMonitor  time.Duration
	RequestMin        time.Duration
	RequestMax        time.Duration

	// TickInterval is the driver's clock: one rep tick (default 10 ms,
	// rep.TickMillis).
	TickInterval time.Duration

	// Tune, if not nil, may change any other rep setting (throttle, bulk,
	// chunk size, ...) before the node is created.
	Tune func(*rep.Config)

	// OnEvent, if not nil, is called on the driver goroutine with every
	// event; it must not block. Events, if not nil, receives every event
	// without blocking: an event that does not fit is dropped and counted
	// (RepStats.EventsDropped).
	OnEvent func(RepEvent)
	Events  chan<- RepEvent

	// Logger for role changes, sync phases, rollbacks and inits (default:
	// the environment's).
	Logger *slog.Logger

	// Elect: elections choose the master (package elect; see elect.go).
	// The site starts in no role and takes part in an election at once;
	// StartMaster and StartClient are refused. Unless set, rep's
	// HeartbeatInterval becomes 100 ms and HeartbeatMonitor 300 ms, so a
	// dead master is noticed in about 300 ms and replaced in about a
	// second.
	Elect bool
	// ElectDir holds elect.db, the election state (default: the
	// environment's directory).
	ElectDir string
	// Election timeouts; zero = elect.DefaultConfig's (vote wait 100 ms,
	// election 500 ms, full election 3 s, retry back-off 300 ms).
	// ElectFullTimeout < 0: no full election at start-up.
	ElectVoteWait    time.Duration
	ElectTimeout     time.Duration
	ElectFullTimeout time.Duration
	ElectRetry       time.Duration
	// ElectTune, if not nil, may change any other elect setting (nvotes,
	// leases, two-site strict, ...) before the node is created.
	ElectTune func(*elect.Config)
	// OnElectEvent and ElectEvents deliver election events as OnEvent and
	// Events deliver rep's (a full ElectEvents drops and counts).
	OnElectEvent func(ElectEvent)
	ElectEvents  chan<- ElectEvent

	// Leases: master leases (Berkeley DB DB_REP_CONF_LEASE; lease.go).
	// Needs Elect; every site of the group, the witness included, must
	// agree on Leases, LeaseTimeout and ClockSkew. The master then writes
	// and serves Env.ViewLease only while a majority has granted it a
	// lease, and a new master waits LeaseTimeout+ClockSkew before its
	// first write. LeaseTimeout is how long a grant lasts (0: 500 ms);
	// ClockSkew is the most two sites' clocks may drift apart over it
	// (0: elect's default, 20 ms).
	Leases       bool
	LeaseTimeout time.Duration
	ClockSkew    time.Duration
	// WitnessGrantAfterExpiry (StartWitness only) chooses availability
	// over consistency once the status-agent grant's holder is gone: see
	// docs/operations.md, "Witness".
	WitnessGrantAfterExpiry bool
	witness                 bool // set by StartWitness on its copy
	// FsyncStallTimeout (with Elect): a master whose log fsync has been
	// in progress this long steps down, so the other sites elect a
	// master that can make commits durable; it rejoins as a client once
	// the fsync completes (stall.go). 0 = DefaultFsyncStallTimeout (5 s),
	// negative = off; otherwise at least TickInterval.
	FsyncStallTimeout time.Duration
}

// DefaultReplicationConfig returns the defaults; set Transport, ID and
// Sites.
func DefaultReplicationConfig() ReplicationConfig {
	return ReplicationConfig{AckPolicy: rep.AckQuorum, TickInterval: rep.TickMillis * time.Millisecond}
}

// repConfig builds the rep.Config, converting durations to ticks.
func (c ReplicationConfig) repConfig(log rep.LogReader) (rep.Config, error) {
	if c.Transport == nil {
		return rep.Config{}, fmt.Errorf("%w: Transport must be set", rep.ErrBadConfig)
	}
	if c.TickInterval <= 0 {
		return rep.Config{}, fmt.Errorf("%w: TickInterval (%v) must be > 0", rep.ErrBadConfig, c.TickInterval)
	}
	rc := rep.DefaultConfig()
	scale := func(def int, d time.Duration) int {
		if d > 0 {
			return max(1, int((d+c.TickInterval-1)/c.TickInterval))
		}
		if def == 0 {
			return 0
		}
		return max(1, int(time.Duration(def)*rep.TickMillis*time.Millisecond/c.TickInterval))
	}
	if err := c.checkElectOptions(); err != nil {
		return rep.Config{}, err
	}
	// rep never ships to a witness nor counts it for acks (witness.go).
	rc.ID, rc.Priority, rc.Sites, rc.Log = c.ID, c.Priority, dataSites(c.Sites), log
	rc.StartDisconnected = true // the transport reports each connection
	rc.AckPolicy, rc.Peer, rc.DelayClient, rc.NoWait, rc.NoAutoInit = c.AckPolicy, c.Peer, c.DelayClient, c.NoWait, c.NoAutoInit
	if c.Elect {
		if c.HeartbeatInterval == 0 {
			c.HeartbeatInterval = electHeartbeat
		}
		if c.HeartbeatMonitor == 0 {
			c.HeartbeatMonitor = max(electHeartbeatMonitor, 3*c.HeartbeatInterval)
		}
	}
	rc.AckTimeoutTicks = scale(rc.AckTimeoutTicks, c.AckTimeout)
	rc.HeartbeatTicks = scale(rc.HeartbeatTicks, c.HeartbeatInterval)
	rc.HeartbeatMonitorTicks = scale(rc.HeartbeatMonitorTicks, c.HeartbeatMonitor)
	rc.RequestMinTicks = scale(rc.RequestMinTicks, c.RequestMin)
	rc.RequestMaxTicks = scale(rc.RequestMaxTicks, c.RequestMax)
	if c.Tune != nil {
		c.Tune(&rc)
	}
	return rc, rc.Validate()
}

// RepSite is the master's view of another site. Except for ID
// and Connected, the fields are the master's only (zero on a
// client); LSNs name records, as everywhere: a caught-up site has
// FlushedLSN = AppliedLSN = RepStatus.LSN. See progress.go.
type RepSite struct {
	ID SiteID
	// Electability is how the site said the group counts it (unknown
	// until it has): only electable sites' acks count for the one_peer,
	// all_peers and quorum policies.
	Electability Electability
	Connected    bool
	Witness      bool    // a witness (witness.go): only ID and Connected are set
	Acked        lsn.LSN // durable LSN the site acknowledged; the same as FlushedLSN
	LagBytes     int64   // log bytes from Acked to the newest record

	SentLSN    lsn.LSN // newest record shipped to the site
	FlushedLSN lsn.LSN // newest record durable there (Acked)
	AppliedLSN lsn.LSN // newest record its readers see; zero if it does not report it
	// LagTime is how long ago the master appended the oldest record the
	// site has not made durable (0 when caught up).
	LagTime time.Duration
	// CatchUpETA estimates when the site will have caught up, at its
	// recent flush rate: 0 when caught up, -1 when it is not progressing.
	CatchUpETA time.Duration
	// DataMismatch is the record after which the site reported a digest
	// of its data that differs from this master's (env digest.go): its
	// data is damaged or diverged. Zero when the last comparison matched
	// (or none was possible).
	DataMismatch lsn.LSN
}

// RepStatus is a site's replication status.
type RepStatus struct {
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
	Err       error // ErrJoinFailure or an abandoned init, when stuck
	Sites     []RepSite

	// BehindBytes (client): log bytes from LSN to MasterLSN, what it
	// still has to fetch as far as it knows.
	BehindBytes int64
	// StorageFailed: the environment failed (a full disk, an I/O error,
	// no file descriptors left; Err says which) and this site stopped
	// replicating: a master stepped down, a client stopped syncing. It
	// takes part again once repaired and restarted (failed.go).
	StorageFailed bool
}

// RepStats are rep's counters plus the driver's.
type RepStats struct {
	rep.Stats
	BadMessages   uint64 // bodies rep.Unmarshal rejected
	SendErrors    uint64 // messages the transport refused (not connected, queue full)
	EventsDropped uint64 // events that did not fit in ReplicationConfig.Events
	Fsyncs        uint64 // client log syncs made by the driver
	// PromisedDrops: rep messages of a master older than the newest
	// election this site voted in, dropped (elect HardState.Promised).
	PromisedDrops uint64
}

// commitWaiter is a committer waiting for its commit's ack-policy result.
type commitWaiter struct {
	lsn lsn.LSN // set by the append hook, under the writer mutex
	ch  chan bool
}

type driver struct {
	e   *Env
	r   *Replica
	n   *rep.Node
	tr  transport.Transport
	cfg ReplicationConfig
	log *slog.Logger

	cmds chan func()
	kick chan struct{}
	stop chan struct{}
	done chan struct{}

	owner *commitWaiter // guarded by e.mu: the committer whose record is being appended
	// local admits local commits. The driver sets it while rep is master
	// and clears it, under e.mu, before it carries out anything once rep
	// is not: a commit that passed the role check before rep changed its
	// role appends under e.mu too, so after the clear no local record can
	// reach the log behind rep's back (fenceLocal).
	local atomic.Bool

	qmu     sync.Mutex
	queue   []rep.Record // appended, not yet handed to the node
	durable lsn.LSN      // newest master record known durable
	waiters map[lsn.LSN]*commitWaiter

	pmu      sync.Mutex
	status   RepStatus
	stats    RepStats
	statusCh chan struct{} // closed and replaced when status changes
	// commitCh is closed and replaced when the commit point moves, if a
	// reader took it to wait (commitWaited) since it was made.
	commitCh     chan struct{}
	commitWaited bool

	badMsgs, sendErrs, dropped, fsyncs atomic.Uint64
	promisedDrops                      atomic.Uint64

	el          *electState // nil unless cfg.Elect
	electStatus ElectStatus // guarded by pmu
	electStats  ElectStats  // guarded by pmu
	// retain is rep's RetainLSN: log an internal init this site serves
	// still needs (logKeepFrom); guarded by pmu.
	retain lsn.LSN

	prog progress // per-site lag (progress.go); driver goroutine only
	// mismatch: per site, the record at which its data digest last
	// differed from this master's (compareDigest); driver goroutine only.
	mismatch map[SiteID]lsn.LSN

	xfer *transferWait // planned transfer in progress (transfer.go)
	// xferOutcome ends the Transfer caller's wait, after the next publish.
	xferOutcome func()
	stall       stallState // fsync-stall watch (stall.go)
	// halted: the environment failed and replication stopped (failed.go).
	// Driver goroutine only.
	halted bool

	// tail is the newest record appended through this driver (a local
	// commit or a master's record), with its generation, so that telling
	// elections the last record's generation costs no log read on the
	// commit path. Driver goroutine only.
	tail    lsn.LSN
	tailGen uint64
}

// noteTail remembers the generation of the newest of recs.
func (d *driver) noteTail(recs []rep.Record) {
	if n := len(recs); n > 0 {
		d.tail, d.tailGen = recs[n-1].LSN, recs[n-1].Gen
	}
}

// StartReplication turns replication on: a driver goroutine owns a rep
// node over this environment and cfg.Transport. The site starts in no
// role; call StartMaster or StartClient (Berkeley DB's rep_start).
// Close stops replication, then closes the environment.
func (e *Env) StartReplication(cfg ReplicationConfig) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.exit()
	r := e.Replica()
	r.SetSite(uint64(cfg.ID))
	rc, err := cfg.repConfig(r)
	if err != nil {
		return err
	}
	d := &driver{
		e: e, r: r, tr: cfg.Transport, cfg: cfg, log: cfg.Logger,
		cmds: make(chan func()), kick: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{}),
		waiters: map[lsn.LSN]*commitWaiter{}, statusCh: make(chan struct{}), commitCh: make(chan struct{}),
		mismatch: map[SiteID]lsn.LSN{},
	}
	if d.log == nil {
		d.log = e.logger
	}
	d.log = d.log.With("site", uint64(cfg.ID))
	if d.stall.timeout, err = cfg.fsyncStallTimeout(); err != nil {
		return err
	}
	if cfg.Elect {
		if err := d.startElect(cfg, rc.HeartbeatTicks); err != nil {
			return err
		}
		// The group counts this site by the class elect fixed at its
		// first start, not by today's priority (elect.HardState).
		rc.Electability = repElectability(d.el.n.Electability())
	}
	if d.n, err = rep.New(rc); err != nil {
		d.closeElect()
		return err
	}
	if d.el != nil {
		d.noteLastRecord()
	}
	e.mu.Lock()
	if e.appendHook != nil {
		e.mu.Unlock()
		d.closeElect()
		return fmt.Errorf("%w: already started", ErrReplication)
	}
	e.appendHook = d.onAppend
	e.mu.Unlock()
	d.publish()
	e.drv.Store(d)
	go d.run()
	return nil
}

// readsLatest reports whether View reads through the writer's view here
// (view.go): on the master.
func (d *driver) readsLatest() bool {
	d.pmu.Lock()
	defer d.pmu.Unlock()
	return d.status.Role == rep.RoleMaster
}

func (e *Env) repDriver() (*driver, error) {
	d := e.drv.Load()
	if d == nil {
		return nil, ErrReplication
	}
	return d, nil
}

// StartMaster makes this site the master of generation gen (rep_start
// with DB_REP_MASTER): commits are stamped with gen and shipped. gen must
// exceed every generation the group used before.
func (e *Env) StartMaster(gen uint64) error {
	d, err := e.repDriver()
	if err != nil {
		return err
	}
	if d.el != nil {
		return fmt.Errorf("%w: elections choose the master (ReplicationConfig.Elect)", ErrReplication)
	}
	return d.do(func() error {
		if err := d.n.BecomeMaster(gen); err != nil {
			return err
		}
		d.r.SetGeneration(gen)
		return nil
	})
}

// StartClient makes this site a client of master (rep_start with
// DB_REP_CLIENT). It learns the master's generation from its NEWMASTER
// announcement and synchronises (verify, rollback, catch up), unless
// DelayClient holds it until Sync.
func (e *Env) StartClient(master SiteID) error {
	d, err := e.repDriver()
	if err != nil {
		return err
	}
	if d.el != nil {
		return fmt.Errorf("%w: elections choose the master (ReplicationConfig.Elect)", ErrReplication)
	}
	return d.do(func() error { return d.n.BecomeClient(master, d.n.Status().Gen) })
}

// Sync starts a delayed client's synchronisation with its master now
// (rep_sync), or retries a failed join or init.
func (e *Env) Sync() error {
	d, err := e.repDriver()
	if err != nil {
		return err
	}
	return d.do(d.n.Sync)
}

// RepStatus returns the replication status.
func (e *Env) RepStatus() (RepStatus, error) {
	d, err := e.repDriver()
	if err != nil {
		return RepStatus{}, err
	}
	d.pmu.Lock()
	defer d.pmu.Unlock()
	st := d.status
	st.Sites = append([]RepSite(nil), st.Sites...)
	st.AppliedLSN, _, _ = e.appliedPos()
	if e.enter() == nil {
		st.EndLSN = e.log.End()
		e.exit()
	}
	if err := e.failure(); err != nil {
		// Failed since the driver last published (it halts on its next
		// tick): say so now.
		st.Err, st.StorageFailed = err, true
	}
	return st, nil
}

// RepStats returns the replication counters.
func (e *Env) RepStats() (RepStats, error) {
	d, err := e.repDriver()
	if err != nil {
		return RepStats{}, err
	}
	d.pmu.Lock()
	defer d.pmu.Unlock()
	s := d.stats
	s.BadMessages, s.SendErrors, s.EventsDropped, s.Fsyncs = d.badMsgs.Load(), d.sendErrs.Load(), d.dropped.Load(), d.fsyncs.Load()
	s.PromisedDrops = d.promisedDrops.Load()
	return s, nil
}

// do runs f on the driver goroutine and returns its error.
func (d *driver) do(f func() error) error {
	res := make(chan error, 1)
	select {
	case d.cmds <- func() {
		err := f()
		d.process() // publish the new status before the caller returns
		res <- err
	}:
	case <-d.done:
		return ErrClosed
	}
	select {
	case err := <-res:
		return err
	case <-d.done:
		return ErrClosed
	}
}

func (d *driver) wake() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// onAppend is the environment's append hook, called under the writer
// mutex right after a commit record is appended (before it is durable).
func (d *driver) onAppend(at, prev lsn.LSN, sum uint32, gen uint64, payload []byte) {
	w := d.owner
	d.owner = nil
	rec := rep.Record{LSN: at, Gen: gen, Checksum: sum, Payload: append([]byte(nil), payload...), Perm: true}
	d.qmu.Lock()
	d.queue = append(d.queue, rec)
	if w != nil {
		w.lsn = at
		d.waiters[at] = w
	}
	d.qmu.Unlock()
	// While the log fsyncs, this record waits for the next fsync anyway:
	// the group commit wakes the driver as it starts that one
	// (Env.beforeSync), so the whole group goes to each client in one
	// message as the master's fsync begins, instead of one message per
	// commit. With no fsync running, ship now.
	if d.e.log.SyncingSince().IsZero() {
		d.wake()
	}
}

// update is Env.Update with replication on.
func (d *driver) update(ctx context.Context, fn func(*Tx) error) (Token, error) {
	if err := d.gate(ctx, true); err != nil {
		return Token{}, err
	}
	w := &commitWaiter{ch: make(chan bool, 1)}
	tok, err := d.e.localUpdate(ctx, func(tx *Tx) error {
		if err := d.writeErr(); err != nil {
			return err // a transfer or step-down began after gate (transfer.go)
		}
		if err := fn(tx); err != nil {
			return err
		}
		d.owner = w // under the writer mutex, like the hook that takes it
		return nil
	})
	if err != nil || w.lsn.IsZero() {
		return tok, err
	}
	// Durable locally: tell the node, then wait for the ack policy.
	d.qmu.Lock()
	if d.durable.Less(w.lsn) {
		d.durable = w.lsn
	}
	d.qmu.Unlock()
	d.wake()
	select {
	case tok.Permanent = <-w.ch:
	case <-ctx.Done():
	case <-d.done:
	}
	return tok, nil
}

// gate admits an operation: a write needs the master role; anything
// waits while a client is locked out (or fails with ErrLockout under
// NoWait); a stuck client (join failure) fails.
func (d *driver) gate(ctx context.Context, write bool) error {
	for {
		d.pmu.Lock()
		st, ch, estat := d.status, d.statusCh, d.electStatus
		d.pmu.Unlock()
		if write && st.Role != rep.RoleMaster {
			return &NotMasterError{Master: st.Master}
		}
		if write && d.el != nil {
			if err := d.writeCheck(st.Master, estat.WriteErr); err != nil {
				return err
			}
		}
		if st.Err != nil {
			if errors.Is(st.Err, rep.ErrJoinFailure) {
				return fmt.Errorf("%w: %w", ErrJoinFailure, st.Err)
			}
			return st.Err
		}
		if !st.Lockout {
			return nil
		}
		if d.cfg.NoWait {
			return fmt.Errorf("%w (sync state %s)", ErrLockout, st.SyncState)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-d.done:
			return ErrClosed
		}
	}
}

// shutdown stops the driver goroutine and releases what it holds.
func (d *driver) shutdown() {
	close(d.stop)
	<-d.done
	d.e.mu.Lock()
	d.e.appendHook = nil
	d.e.mu.Unlock()
	d.r.Close()
	d.closeElect()
}

// run is the driver goroutine.
func (d *driver) run() {
	defer close(d.done)
	tick := time.NewTicker(d.cfg.TickInterval)
	defer tick.Stop()
	recv := d.tr.Recv()
	// applied closes when a client's applier moves (progress.go).
	var applied chan struct{}
	d.process() // an elect node's Start
	for {
		select {
		case <-d.stop:
			d.failWaiters()
			return
		case m, ok := <-recv:
			if !ok {
				recv = nil
				continue
			}
			d.receive(m)
			// Take what else has arrived, so a burst costs one fsync.
		more:
			for range 256 {
				select {
				case m, ok := <-recv:
					if !ok {
						recv = nil
						break more
					}
					d.receive(m)
				default:
					break more
				}
			}
		case <-tick.C:
			if !d.halted {
				d.n.Tick()
			}
			d.tickElect()
			d.checkStall()
			d.checkTransfer()
			d.checkFailed()
		case <-d.kick:
		case <-applied:
		case f := <-d.cmds:
			f()
		}
		d.takeLocal()
		applied = d.reportApplied()
		d.process()
	}
}

// receive steps one transport message.
func (d *driver) receive(tm transport.Message) {
	if d.fromWitness(tm) {
		return
	}
	id := SiteID(tm.From)
	switch tm.Kind {
	case transport.KindConnUp:
		d.n.PeerUp(id)
	case transport.KindConnDown:
		d.n.PeerDown(id)
	case transport.KindMessage:
		if len(tm.Body) == 0 || tm.Body[0] != envelopeRep && tm.Body[0] != envelopeElect {
			d.badMsgs.Add(1)
			d.log.Warn("rep: dropped a message with no envelope byte", "from", tm.From, "bytes", len(tm.Body))
			return
		}
		if tm.Body[0] == envelopeElect {
			d.receiveElect(tm.From, tm.Body[1:])
			return
		}
		if d.halted {
			return // storage failed: this site takes no part (failed.go)
		}
		m, err := rep.Unmarshal(tm.Body[1:])
		if err != nil {
			d.badMsgs.Add(1)
			d.log.Warn("rep: dropped a malformed message", "from", tm.From, "err", err)
			return
		}
		if d.promisedAway(m) {
			return
		}
		if err := d.n.Step(m); err != nil {
			d.badMsgs.Add(1)
			d.log.Warn("rep: dropped a message", "from", tm.From, "err", err)
			return
		}
		d.repSeen(m)
	}
}

// takeLocal hands the node the commits appended (and made durable) since
// the last call.
func (d *driver) takeLocal() {
	d.qmu.Lock()
	recs, durable := d.queue, d.durable
	d.queue = nil
	d.qmu.Unlock()
	if len(recs) > 0 {
		d.noteTail(recs)
		if err := d.n.Appended(recs); err == nil {
			d.prog.appended(recs[len(recs)-1].LSN, time.Now())
		} else {
			// Not the master any more: these commits are not replicated;
			// a sync with the new master rolls them back into the
			// rollback file.
			d.log.Warn("rep: local commits while not master", "first", recs[0].LSN, "n", len(recs), "err", err)
			for _, r := range recs {
				d.resolve(r.LSN, false)
			}
		}
	}
	if !durable.IsZero() {
		d.n.Persisted(durable)
	}
}

// fenceLocal keeps local commits in step with rep's role. While rep is
// master they are admitted. Once it is not, they are shut out under the
// writer mutex, and the records of those that got in while rep was
// changing role (queued, or in the log beyond what rep knows) are
// reported not permanent and rolled back, into a rollback file like any
// rollback: rep never shipped them, and what it carries out next (a sync
// with the new master, records appended at its log end) assumes the log
// ends where rep thinks it does.
func (d *driver) fenceLocal(ctx context.Context) error {
	st := d.n.Status()
	if st.Role == rep.RoleMaster {
		d.local.Store(true)
		return nil
	}
	if !d.local.Load() {
		return nil
	}
	d.e.mu.Lock()
	d.local.Store(false)
	d.e.mu.Unlock()
	d.takeLocal()
	last := d.e.log.Last()
	if last.IsZero() || !st.Last.Less(last) {
		return nil
	}
	d.log.Warn("rep: rolling back local commits made as this site stopped being master",
		"to", st.Last.String(), "from", last.String())
	_, _, err := d.r.Rollback(ctx, rep.Rollback{To: st.Last, From: last})
	return err
}

func (d *driver) resolve(at lsn.LSN, perm bool) {
	d.qmu.Lock()
	w := d.waiters[at]
	delete(d.waiters, at)
	d.qmu.Unlock()
	if w != nil {
		w.ch <- perm
	}
}

func (d *driver) failWaiters() {
	d.qmu.Lock()
	ws := d.waiters
	d.waiters = map[lsn.LSN]*commitWaiter{}
	d.qmu.Unlock()
	for _, w := range ws {
		w.ch <- false
	}
}

// process carries out the rep node's Ready, then the elect node's (whose
// role decisions give rep more work), until neither has anything more.
func (d *driver) process() {
	for {
		if !d.processRep() {
			d.checkFailed()
			d.finishTransfer()
			return
		}
		if !d.processElect() {
			break
		}
	}
	d.publish()
	d.finishTransfer()
}

// processRep carries out the rep node's Ready until it has nothing more;
// false (after publishing) when storage failed.
func (d *driver) processRep() bool {
	ctx := context.Background()
	for d.n.HasReady() {
		if err := d.fenceLocal(ctx); err != nil {
			d.log.Error("rep: rolling back local commits made as rep stopped being master failed", "err", err)
			_ = d.e.fail(fmt.Errorf("env: replication: %w", err))
			d.publish()
			return false
		}
		rd := d.n.Ready()
		wasMaster := d.n.Status().Role == rep.RoleMaster
		if err := d.r.CarryOut(ctx, d.n, rd, d.send); err != nil {
			// Storage failed: the environment cannot go on consistently.
			d.log.Error("rep: carrying out ready failed", "err", err)
			_ = d.e.fail(fmt.Errorf("env: replication: %w", err))
			d.n.Advance(rd)
			d.publish()
			return false
		}
		d.noteTail(rd.Append)
		if rd.Rollback != nil {
			d.log.Info("rep: rolled back", "to", rd.Rollback.To, "from", rd.Rollback.From)
		}
		if rd.Install != nil {
			d.log.Info("rep: installed snapshot", "lsn", rd.Install.Snap.LSN, "bytes", rd.Install.Snap.Size)
		}
		for _, c := range rd.Commits {
			d.resolve(c.LSN, c.Permanent)
		}
		for _, ev := range rd.Events {
			d.event(ev)
		}
		if len(rd.Append) > 0 {
			at, err := d.r.Sync()
			if err != nil {
				d.log.Error("rep: log sync failed", "err", err)
				d.publish()
				return false
			}
			d.fsyncs.Add(1)
			d.n.Persisted(at)
		}
		if wasMaster && d.n.Status().Role != rep.RoleMaster {
			d.failWaiters()
		}
		if rd.Status != nil {
			d.logStatus(*rd.Status)
		}
	}
	return true
}

func (d *driver) send(m rep.Message) {
	if d.ackPromisedAway(m) {
		return
	}
	b, err := rep.Marshal(m)
	if err != nil {
		d.log.Error("rep: encode message", "msg", m.String(), "err", err)
		return
	}
	d.sendBody(m.To, envelopeRep, b)
}

func (d *driver) event(ev rep.Event) {
	lvl := slog.LevelInfo
	switch ev.Type {
	case rep.EventPermFailed, rep.EventConnectBroken, rep.EventMasterSilent:
		lvl = slog.LevelWarn
	case rep.EventJoinFailure, rep.EventInitFailed, rep.EventDupMaster:
		lvl = slog.LevelError
	}
	d.log.Log(context.Background(), lvl, "rep: "+ev.Type.String(), "peer", uint64(ev.Site), "gen", ev.Gen, "lsn", ev.LSN.String())
	d.repEventSeen(ev)
	if d.cfg.OnEvent != nil {
		d.cfg.OnEvent(ev)
	}
	if d.cfg.Events != nil {
		select {
		case d.cfg.Events <- ev:
		default:
			d.dropped.Add(1)
		}
	}
}

func (d *driver) logStatus(st rep.Status) {
	// The status changes with every commit; format it only if it is kept.
	if !d.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	d.log.Debug("rep: status", "role", st.Role.String(), "master", uint64(st.Master), "gen", st.Gen,
		"sync", st.SyncState.String(), "last", st.Last.String(), "durable", st.Durable.String())
}

// publish makes the node's status and counters visible to other
// goroutines, waking operations gated on a status change.
func (d *driver) publish() {
	s := d.n.Status()
	sites := d.n.Sites()
	st := RepStatus{
		ID: s.ID, Role: s.Role, Master: s.Master, Gen: s.Gen, LSN: s.Last, DurableLSN: s.Durable,
		MasterLSN: s.MasterLast, CommitLSN: s.Commit, SyncState: s.SyncState, Lockout: s.Lockout,
		InitDone: s.InitDone, InitTotal: s.InitTotal, Err: s.Err,
		Sites: make([]RepSite, len(sites)),
	}
	if s.Role == rep.RoleClient {
		st.BehindBytes = d.e.distance(s.Last, s.MasterLast)
	}
	if err := d.e.failure(); err != nil {
		st.Err, st.StorageFailed = err, true
	}
	now := time.Now()
	d.prog.observe(s, now)
	for i, x := range sites {
		st.Sites[i] = RepSite{ID: x.ID, Electability: x.Electability, Connected: x.Connected, Acked: x.Acked}
		if s.Role == rep.RoleMaster {
			rs := &st.Sites[i]
			rs.LagBytes = d.e.distance(x.Acked, s.Last)
			rs.SentLSN, rs.FlushedLSN, rs.AppliedLSN = x.Sent, x.Acked, x.Applied
			d.prog.site(rs, s.Last, now, d.e.distance)
			d.compareDigest(rs, x)
		}
	}
	st.Sites = d.witnessSites(st.Sites)
	d.publishLease()
	stats := d.n.Stats()
	var (
		es  ElectStatus
		ess ElectStats
	)
	if d.el != nil {
		es, ess = d.el.n.Status(), d.el.n.Stats()
	}
	d.pmu.Lock()
	d.electStatus, d.electStats = es, ess
	d.retain = s.RetainLSN
	changed := st.Role != d.status.Role || st.Master != d.status.Master || st.Gen != d.status.Gen ||
		st.Lockout != d.status.Lockout || st.SyncState != d.status.SyncState || st.Err != d.status.Err ||
		st.StorageFailed != d.status.StorageFailed
	moved := st.CommitLSN != d.status.CommitLSN
	d.status = st
	d.stats.Stats = stats
	if changed {
		close(d.statusCh)
		d.statusCh = make(chan struct{})
	}
	if (moved || changed) && d.commitWaited {
		close(d.commitCh)
		d.commitCh = make(chan struct{})
		d.commitWaited = false
	}
	d.pmu.Unlock()
	if changed {
		d.log.Info("rep: role/sync", "role", st.Role.String(), "master", uint64(st.Master), "gen", st.Gen,
			"sync", st.SyncState.String(), "lockout", st.Lockout, "lsn", st.LSN.String())
	}
}

// beforeSync is the log's BeforeSync hook: a group commit is about to
// write and fsync; ship its records now, so the clients' fsyncs overlap
// the master's.
func (e *Env) beforeSync() {
	if e == nil {
		return
	}
	if d := e.drv.Load(); d != nil {
		d.wake()
	}
}
