package site

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"logship/elect"
	"logship/env"
	"logship/internal/sitecore"
	"logship/rep"
	"logship/rep/transport"
	"logship/wal/lsn"
)

// Site is a running replication site over an environment: one goroutine
// (the loop) owns the protocol core (sitecore.Core), carries out its work
// on the environment and the transport, and answers everyone else
// through channels. Its methods are safe for concurrent use.
type Site struct {
	e     *env.Env
	r     *env.Replica
	c     *sitecore.Core // the loop's only
	tr    transport.Transport
	cfg   Config
	log   *slog.Logger
	store *electStore // nil without elections

	cmds chan func()
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once

	// Local commits on their way to the core, and the committers
	// waiting for their ack policy.
	qmu sync.Mutex
	// pending holds them by their Seq (env.Pending.Seq) until every
	// earlier one arrived: committers hand over in any order, and rep
	// must get the records in log order. next is the Seq due next.
	pending map[uint64]*commit
	next    uint64
	durable lsn.LSN // newest local commit known durable
	waiters map[lsn.LSN]*commit

	// The published status; the channels wake the callers waiting on it.
	pmu      sync.Mutex
	status   Status
	estatus  ElectStatus
	estats   ElectStats
	stats    Stats
	statusCh chan struct{} // closed and replaced when the role or sync state changes
	// commitCh is closed and replaced when the commit point moves, if a
	// reader took it to wait (commitWaited) since it was made.
	commitCh     chan struct{}
	commitWaited bool

	sendErrs, dropped, fsyncs, slowTurns atomic.Uint64
	// marked is the generation whose first record (markGeneration) was
	// committed, or is being.
	marked atomic.Uint64

	// The loop's only.
	lease *leaseClock // nil without leases (lease.go)
	// tickedAt is when the core's clock last advanced (tick).
	tickedAt time.Time
	prog     progress // per-site lag (progress.go)
	mismatch map[SiteID]lsn.LSN
	xfer     *transferWait // planned transfer in progress (transfer.go)
	// xferOutcome ends the Transfer caller's wait, after the next publish.
	xferOutcome  func()
	stall        stallState         // fsync-stall watch (stall.go)
	steps        []turnStep         // this turn's steps that may wait on storage, by kind (stall.go)
	halted       bool               // the environment failed and the core halted
	badSnapshots int                // damaged snapshots in a row (install.go); the loop's
	known        map[SiteID]lsn.LSN // acked positions, kept across roles (keep.go)
	needs        []env.SiteNeed     // reused
	// snaps counts the snapshots being taken off the loop (snapshot.go).
	snaps sync.WaitGroup
	addrs addrBook // the client addresses the peers advertised (addrs.go)
	// members is the published membership (pmu); peers the transport's
	// as the loop keeps them; chMu makes one change at a time (members.go).
	members   Membership
	peers     map[SiteID]bool
	chMu      sync.Mutex
	promoting atomic.Bool
}

// commit is a local commit handed to the core, and its committer's wait
// for the ack policy.
type commit struct {
	rec   rep.Record
	epoch uint64    // the log epoch it was appended in
	ch    chan bool // buffered; receives whether it became permanent
}

// Start starts replication over e: a loop goroutine owns the protocol
// core over e's log (env.Replica) and cfg.Transport. With elections the
// site takes part in one at once; without, it starts in no role: call
// StartMaster or StartClient (Berkeley DB's rep_start). Close the site
// before the environment.
func Start(e *env.Env, cfg Config) (*Site, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := e.Replica()
	if err := r.Claim(); err != nil {
		return nil, fmt.Errorf("site: %w", err)
	}
	r.SetSite(uint64(cfg.ID))
	s := &Site{
		e: e, r: r, tr: cfg.Transport, cfg: cfg, log: cfg.Logger,
		cmds: make(chan func()), kick: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{}),
		waiters: map[lsn.LSN]*commit{}, pending: map[uint64]*commit{}, next: e.AppendSeq() + 1, statusCh: make(chan struct{}), commitCh: make(chan struct{}),
		mismatch: map[SiteID]lsn.LSN{}, members: configuredMembership(cfg),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("site", uint64(cfg.ID))
	fail := func(err error) (*Site, error) {
		if s.store != nil {
			_ = s.store.Close()
		}
		r.Release()
		return nil, err
	}
	var hs elect.HardState
	if cfg.Election.On {
		dir := cfg.Dir
		if dir == "" {
			dir = e.Dir()
		}
		var err error
		if s.store, err = openElectStore(filepath.Join(dir, electStoreFile)); err != nil {
			return fail(err)
		}
		if hs, err = s.store.Load(); err != nil {
			return fail(err)
		}
	}
	cc, err := cfg.CoreConfig(r, hs, timeRand(cfg.ID))
	if err != nil {
		return fail(err)
	}
	if err = s.startMembership(&cc); err != nil {
		return fail(err)
	}
	if s.c, err = sitecore.New(cc); err != nil {
		return fail(err)
	}
	if cc.Elect != nil && cc.Elect.Leases {
		s.lease = newLeaseClock(*cc.Elect, cfg.Timing.Tick)
	}
	s.stall.timeout = cfg.fsyncStall()
	if cfg.Election.On {
		es := s.c.Status().Elect
		s.log.Info("elect: starting", "egen", hs.EGen, "voted_for", uint64(hs.VotedFor), "electability", es.Electability.String())
		if hs.Electability != elect.ElectabilityUnknown && (cfg.Priority > 0) != (es.Electability == elect.Electable) {
			s.log.Warn("elect: this site keeps the electability fixed at its first start; its priority now only decides whether it stands in elections",
				"priority", cfg.Priority, "electability", es.Electability.String())
		}
	}
	s.publish()
	go s.run()
	return s, nil
}

// Close stops replication: the loop ends, commits still waiting for
// their ack policy are reported not permanent, and the election store
// closes. The environment and the transport stay the caller's.
func (s *Site) Close() error {
	err := ErrClosed
	s.once.Do(func() {
		close(s.stop)
		<-s.done
		s.snaps.Wait()
		s.r.Close()
		s.r.Release()
		err = nil
		if s.store != nil {
			if cerr := s.store.Close(); cerr != nil {
				err = fmt.Errorf("site: close election store: %w", cerr)
			}
		}
	})
	return err
}

// Env returns the environment the site replicates.
func (s *Site) Env() *env.Env { return s.e }

// do runs f on the loop goroutine and returns its error.
func (s *Site) do(f func() error) error {
	res := make(chan error, 1)
	select {
	case s.cmds <- func() {
		err := f()
		s.process() // publish the new status before the caller returns
		res <- err
	}:
	case <-s.done:
		return ErrClosed
	}
	select {
	case err := <-res:
		return err
	case <-s.done:
		return ErrClosed
	}
}

func (s *Site) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// watchCommit returns the published status and a channel closed once
// the commit point (or the status with it) moves after that.
func (s *Site) watchCommit() (Status, <-chan struct{}) {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	s.commitWaited = true
	return s.status, s.commitCh
}

// run is the loop goroutine.
func (s *Site) run() {
	defer close(s.done)
	tick := time.NewTicker(s.cfg.Timing.Tick)
	defer tick.Stop()
	recv := s.tr.Recv()
	syncStart := s.e.SyncStarts()
	// applied closes when a client's applier moves (progress.go).
	var applied <-chan struct{}
	s.process()
	for {
		var began time.Time
		select {
		case <-s.stop:
			s.failWaiters()
			return
		case m, ok := <-recv:
			if !ok {
				recv = nil
				continue
			}
			began = time.Now()
			s.receive(m)
			// Take what else has arrived, so a burst costs one fsync.
			recv = s.receiveMore(recv)
		case <-tick.C:
			began = time.Now()
			n := s.ticksDue(began)
			if n > 1 {
				// The clock is about to catch up: first what arrived
				// meanwhile (the acks and grants the late ticks would
				// otherwise find missing).
				recv = s.receiveMore(recv)
			}
			s.tick(began, n)
		case <-s.kick:
			began = time.Now()
		case <-syncStart:
			// A group commit starts its fsync: ship its records now, so
			// the clients' fsyncs overlap the master's (commit.go).
			syncStart = s.e.SyncStarts()
			began = time.Now()
		case <-applied:
			began = time.Now()
		case f := <-s.cmds:
			began = time.Now()
			f()
		}
		s.takeLocal()
		applied = s.reportApplied()
		s.process()
		s.watchTurn(began)
	}
}

// receive steps one transport message.
func (s *Site) receive(tm transport.Message) {
	id := SiteID(tm.From)
	switch tm.Kind {
	case transport.KindConnUp:
		s.advertiseTo(id)
		s.c.PeerUp(id)
	case transport.KindConnDown:
		s.c.PeerDown(id)
	case transport.KindMessage:
		if s.takeAddrs(id, tm.Body) {
			return
		}
		// Timed as a step, by message type: serving a catch-up reads the
		// log here.
		start := time.Now()
		err := s.c.Receive(id, tm.Body)
		s.addStep(cmp.Or(s.c.Stepped(), "an undecodable message"), true, time.Since(start))
		if err != nil {
			s.log.Warn("rep: dropped a message", "from", uint64(id), "bytes", len(tm.Body), "err", err)
		}
	}
}

// receiveMore steps what else has arrived on recv, up to 256 messages,
// and returns recv (nil once closed).
func (s *Site) receiveMore(recv <-chan transport.Message) <-chan transport.Message {
	for range 256 {
		select {
		case m, ok := <-recv:
			if !ok {
				return nil
			}
			s.receive(m)
		default:
			return recv
		}
	}
	return recv
}

// maxCatchUp bounds the ticks one tick may add (a heartbeat monitor's
// worth): past that, a late loop's silence has been seen anyway.
const maxCatchUp = 30

// ticksDue is how many ticks the core's clock advances at at: one, or,
// on a master whose loop was late (the ticker drops the ticks it could
// not deliver), one per tick interval since the last, up to maxCatchUp.
// Without catching up, a master's heartbeats and lease requests, which
// the cores schedule in ticks, would come late by the time the loop
// lost, though the loop runs again. Only a master catches up: a client
// counts a lease grant's promise in its own ticks from when it stepped
// the request, and ticks added later would end that promise before its
// time in real time; a lagging clock only makes it longer. A master
// promises nothing in ticks; its own lease, counted in ticks, only ends
// sooner, and the published deadline is on real time anyway (lease.go).
func (s *Site) ticksDue(at time.Time) int {
	if s.tickedAt.IsZero() || s.c.Status().Rep.Role != rep.RoleMaster {
		return 1
	}
	return min(max(int(at.Sub(s.tickedAt)/s.cfg.Timing.Tick), 1), maxCatchUp)
}

// tick advances the core's clock by n ticks (ticksDue at at) and runs
// the duties that need the site's own: the lease deadline, the
// fsync-stall watch, a transfer's catch-up check, the storage-failure
// watch.
func (s *Site) tick(at time.Time, n int) {
	for i := range n {
		if i > 0 && s.c.Status().Rep.Role != rep.RoleMaster {
			break // stepped down in the catch-up: the rest is not a master's
		}
		s.c.Tick()
		if s.lease != nil {
			// Every tick of a catch-up starts now: a request stamped
			// with one leaves after now, which keeps the deadline no
			// later than the grantors' promises.
			now, _ := s.c.LeaseTicks()
			s.lease.mark(now, at)
		}
	}
	s.tickedAt = at
	s.checkStall()
	s.checkTransfer()
	s.checkFailed()
}

// process carries out the core's Ready until it has nothing more, then
// publishes the status.
func (s *Site) process() {
	for range 10000 {
		if !s.c.HasReady() {
			break
		}
		if !s.carryOut(s.c.Ready()) {
			break
		}
	}
	s.publish()
	s.checkMembers()
	s.finishTransfer()
	s.markGeneration()
}

// carryOut carries out one Ready in its contract order (sitecore.Ready);
// false when the storage failed (the site is then halted).
func (s *Site) carryOut(rd sitecore.Ready) bool {
	ctx := context.Background()
	if a := rd.Admit; a != nil && !a.Open {
		var last lsn.LSN
		_ = s.timed("shutting local commits out", func() error { last = s.e.Shut(); return nil })
		s.c.Advance(rd)
		s.c.Fenced(last)
		return true
	}
	if a := rd.Admit; a != nil {
		_ = s.timed("admitting local commits", func() error { s.e.Admit(a.Gen); return nil })
	}
	if rb := rd.Rollback; rb != nil {
		s.log.Warn("rep: rolling back local commits made as this site stopped being master",
			"to", rb.To.String(), "from", rb.From.String())
		if err := s.timed("rolling back raced local commits", func() error { _, _, err := s.r.Rollback(ctx, *rb); return err }); err != nil {
			return s.storageFailed("rolling back local commits made as rep stopped being master", err)
		}
	}
	if rd.State != nil {
		if err := s.timed("persisting the election state", func() error { return s.store.Save(*rd.State) }); err != nil {
			return s.storageFailed("persisting the election state", err)
		}
	}
	if in := rd.Rep.Install; in != nil {
		s.publishInstalling(in.Snap.Size)
	}
	if err := s.timed("carrying out replication (log writes, rollback, install)", func() error { return s.r.CarryOut(ctx, rd.Rep, s.sendRep) }); err != nil {
		// A damaged snapshot, unless the store has failed already (a
		// halted site's retries of this Ready fail with its failure,
		// which may be the third damaged snapshot).
		if rd.Rep.Install != nil && errors.Is(err, env.ErrBadSnapshot) && s.e.Failure() == nil {
			return s.installFailed(rd, err)
		}
		return s.storageFailed("carrying out replication", err)
	}
	if rd.Rep.Install != nil {
		s.badSnapshots = 0
	}
	if rd.Rep.TakeSnapshot {
		s.takeSnapshot()
	}
	if rd.Rep.Rollback != nil {
		s.log.Info("rep: rolled back", "to", rd.Rep.Rollback.To, "from", rd.Rep.Rollback.From)
	}
	if rd.Rep.Install != nil {
		s.log.Info("rep: installed snapshot", "lsn", rd.Rep.Install.Snap.LSN, "bytes", rd.Rep.Install.Snap.Size)
	}
	s.electAndOutcomes(rd)
	for _, ev := range rd.Rep.Events {
		s.repEvent(ev)
	}
	for _, ev := range rd.ElectEvents {
		s.electEvent(ev)
	}
	for _, err := range rd.Errors {
		s.log.Error("site: " + err.Error())
	}
	if st := rd.Rep.Status; st != nil {
		s.logStatus(*st)
	}
	s.c.Advance(rd)
	s.afterLog(rd)
	if len(rd.Rep.Append) > 0 {
		var at lsn.LSN
		err := s.timed("syncing the log", func() (err error) { at, err = s.r.Sync(); return err })
		if err != nil {
			return s.storageFailed("syncing the log", err)
		}
		s.fsyncs.Add(1)
		s.c.Persisted(at)
	}
	return true
}

// electAndOutcomes sends rd's election messages and ends the waits of
// the commits whose outcome it gives (rep's, and those a fence refused).
func (s *Site) electAndOutcomes(rd sitecore.Ready) {
	for _, m := range rd.ElectMessages {
		s.sendElect(m)
	}
	for _, c := range rd.Rep.Commits {
		s.resolve(c.LSN, c.Permanent)
	}
	for _, c := range rd.Rejected {
		s.resolve(c.LSN, false)
	}
}

func (s *Site) sendRep(m rep.Message) {
	b, err := sitecore.Encode(m)
	if err != nil {
		s.log.Error("rep: encode message", "msg", m.String(), "err", err)
		return
	}
	s.send(m.To, b)
}

func (s *Site) sendElect(m elect.Message) {
	b, err := sitecore.EncodeElect(m)
	if err != nil {
		s.log.Error("elect: encode message", "msg", m.String(), "err", err)
		return
	}
	s.send(SiteID(m.To), b)
}

func (s *Site) send(to SiteID, body []byte) {
	if err := s.tr.Send(transport.ID(to), body); err != nil {
		s.sendErrs.Add(1)
	}
}

func (s *Site) repEvent(ev rep.Event) {
	lvl := slog.LevelInfo
	switch ev.Type {
	case rep.EventPermFailed, rep.EventConnectBroken, rep.EventMasterSilent:
		lvl = slog.LevelWarn
	case rep.EventJoinFailure, rep.EventInitFailed, rep.EventDupMaster, rep.EventRollbackRefused:
		lvl = slog.LevelError
	}
	s.log.Log(context.Background(), lvl, "rep: "+ev.Type.String(), "peer", uint64(ev.Site), "gen", ev.Gen, "lsn", ev.LSN.String())
	s.deliver(Event{Rep: &ev})
}

func (s *Site) electEvent(ev elect.Event) {
	s.transferEvent(ev)
	logElectEvent(s.log, ev)
	s.deliver(Event{Elect: &ev})
}

// logElectEvent logs an election event at the level it deserves.
func logElectEvent(log *slog.Logger, ev elect.Event) {
	lvl := slog.LevelInfo
	switch ev.Type {
	case elect.EventElectionFailed, elect.EventLeaseExpired, elect.EventGrantRefused, elect.EventTransferFailed, elect.EventTransferRefused:
		lvl = slog.LevelWarn
	case elect.EventDupMaster, elect.EventSteppedDown:
		lvl = slog.LevelError
	}
	log.Log(context.Background(), lvl, "elect: "+ev.Type.String(), "peer", uint64(ev.Site), "gen", ev.Gen)
}

// deliver hands an event to the configured handler and channel.
func (s *Site) deliver(ev Event) {
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(ev)
	}
	if s.cfg.Events != nil {
		select {
		case s.cfg.Events <- ev:
		default:
			s.dropped.Add(1)
		}
	}
}

func (s *Site) logStatus(st rep.Status) {
	// The status changes with every commit; format it only if it is kept.
	if !s.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	s.log.Debug("rep: status", "role", st.Role.String(), "master", uint64(st.Master), "gen", st.Gen,
		"sync", st.SyncState.String(), "last", st.Last.String(), "durable", st.Durable.String())
}

// publish makes the core's status and counters visible to other
// goroutines, waking the callers waiting on a change.
func (s *Site) publish() {
	cs := s.c.Status()
	rs := cs.Rep
	sites := s.c.Sites()
	st := Status{
		ID: s.cfg.ID, Role: rs.Role, Master: rs.Master, Gen: rs.Gen, LSN: rs.Last, DurableLSN: rs.Durable,
		MasterLSN: rs.MasterLast, CommitLSN: rs.Commit, SyncState: rs.SyncState, Lockout: rs.Lockout,
		InitDone: rs.InitDone, InitTotal: rs.InitTotal, Err: rs.Err, WriteErr: cs.WriteErr,
		Sites: make([]SiteStatus, len(sites)),
	}
	st.Members, st.MemberErr = s.publishedMembers()
	if rs.Role == rep.RoleClient {
		st.BehindBytes = s.e.Distance(rs.Last, rs.MasterLast)
	}
	if err := s.e.Failure(); err != nil {
		st.Err, st.StorageFailed = err, true
	}
	now := time.Now()
	s.prog.observe(rs, now)
	for i, x := range sites {
		st.Sites[i] = SiteStatus{ID: x.ID, Electability: x.Electability, Connected: x.Connected, Acked: x.Acked}
		if rs.Role == rep.RoleMaster {
			ss := &st.Sites[i]
			ss.LagBytes = s.e.Distance(x.Acked, rs.Last)
			ss.SentLSN, ss.FlushedLSN, ss.AppliedLSN = x.Sent, x.Acked, x.Applied
			s.prog.site(ss, rs.Last, now, s.e.Distance)
			ss.InitSentBytes, ss.InitTotalBytes = x.InitSent, x.InitSize
			s.prog.initCopy(ss, now)
			s.compareDigest(ss, x)
		}
	}
	for _, w := range cs.Witnesses {
		st.Sites = append(st.Sites, SiteStatus{ID: w.ID, Witness: true, Connected: w.Connected})
	}
	s.e.Retain(rs.RetainLSN)
	s.r.KeepShared(rs.Shared)
	s.keepLog(rs, sites)
	s.publishLease()
	stats := Stats{Stats: s.c.RepStats()}
	cst := s.c.Stats()
	s.pmu.Lock()
	s.estatus, s.estats = cs.Elect, s.c.ElectStats()
	changed := st.Role != s.status.Role || st.Master != s.status.Master || st.Gen != s.status.Gen ||
		st.Lockout != s.status.Lockout || st.SyncState != s.status.SyncState || st.Err != s.status.Err ||
		st.StorageFailed != s.status.StorageFailed || (st.WriteErr == nil) != (s.status.WriteErr == nil)
	moved := st.CommitLSN != s.status.CommitLSN
	s.status, s.members = st, st.Members
	stats.BadMessages, stats.PromisedDrops = cst.BadMessages, cst.PromisedDrops
	s.stats = stats
	if changed {
		close(s.statusCh)
		s.statusCh = make(chan struct{})
	}
	if (moved || changed) && s.commitWaited {
		close(s.commitCh)
		s.commitCh = make(chan struct{})
		s.commitWaited = false
	}
	s.pmu.Unlock()
	if changed {
		s.log.Info("rep: role/sync", "role", st.Role.String(), "master", uint64(st.Master), "gen", st.Gen,
			"sync", st.SyncState.String(), "lockout", st.Lockout, "lsn", st.LSN.String())
	}
}

// Status returns the site's replication status.
func (s *Site) Status() Status {
	s.pmu.Lock()
	st := s.status
	s.pmu.Unlock()
	st.Sites = append([]SiteStatus(nil), st.Sites...)
	st.AppliedLSN, _, _ = s.e.Applied()
	st.EndLSN = s.e.End()
	if err := s.e.Failure(); err != nil {
		// Failed since the loop last published (it halts on its next
		// tick): say so now.
		st.Err, st.StorageFailed = err, true
	}
	return st
}

// Stats returns the replication counters.
func (s *Site) Stats() Stats {
	s.pmu.Lock()
	st := s.stats
	s.pmu.Unlock()
	st.SendErrors, st.EventsDropped, st.Fsyncs = s.sendErrs.Load(), s.dropped.Load(), s.fsyncs.Load()
	st.SlowTurns = s.slowTurns.Load()
	return st
}

// ElectStatus returns the election state machine's status. Its WriteErr
// is the site's verdict on a write now: with leases, ErrLeaseExpired once
// the published lease deadline has passed, though the core, counting in
// ticks a late loop may not have had, still believes in its lease.
func (s *Site) ElectStatus() (ElectStatus, error) {
	if !s.cfg.Election.On {
		return ElectStatus{}, fmt.Errorf("%w: elections are off (Config.Election.On)", ErrElections)
	}
	s.pmu.Lock()
	es := s.estatus
	s.pmu.Unlock()
	if es.WriteErr == nil && s.lease != nil && !s.lease.held(time.Now()) {
		es.WriteErr = ErrLeaseExpired
	}
	return es, nil
}

// ElectStats returns the election counters (zero with elections off).
func (s *Site) ElectStats() ElectStats {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	return s.estats
}
