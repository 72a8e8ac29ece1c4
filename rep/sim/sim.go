package sim

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"strings"

	"logship/elect"
	"logship/internal/repelect"
	"logship/rep"
	"logship/rep/transport"
	"logship/rep/transport/memnet"
	"logship/wal/lsn"
)

// Config configures one run. The zero value of every field but Seed
// means its default.
type Config struct {
	// Seed decides everything: the fault profile, the schedule, the
	// workload and the network.
	Seed uint64
	// Sites is the group size (default 3).
	Sites int
	// Ticks is the length of the faulty phase (default 300 ticks).
	Ticks int
	// SettleTicks bounds the phase after the faults heal: the group must
	// be quiescent within it (default 3000 ticks).
	SettleTicks int
	// Storage selects the sites' storage (default StorageEnv).
	Storage StorageKind
	// Dir is where env storage makes its site directories (default
	// os.TempDir()). Each run makes and removes its own directory.
	Dir string
	// Faults overrides the fault profile drawn from the seed.
	Faults *Faults
	// Trace, when set, receives the run's trace, one event a line.
	Trace io.Writer

	// Elect: every site runs an elect.Node beside its rep.Node and takes
	// its role only from elect's decisions, as env's driver does with
	// ReplicationConfig.Elect; the run appoints nobody (see elect.go).
	Elect bool
	// Leases: master leases (elect.Config.Leases); needs Elect.
	Leases bool
	// Timeouts selects elect's timeouts (default: drawn from the seed).
	Timeouts Timeouts
}

// Timeouts names a set of elect timeouts.
type Timeouts string

const (
	// TimeoutsDefault is elect.DefaultConfig's.
	TimeoutsDefault Timeouts = "default"
	// TimeoutsTight is elect.TightConfig's.
	TimeoutsTight Timeouts = "tight"
)

func (c Config) withDefaults() Config {
	if c.Sites == 0 {
		c.Sites = 3
	}
	if c.Ticks == 0 {
		c.Ticks = 300
	}
	if c.SettleTicks == 0 {
		c.SettleTicks = 3000
	}
	if c.Storage == "" {
		c.Storage = DefaultStorage
	}
	if c.Dir == "" {
		c.Dir = os.TempDir()
	}
	c.Leases = c.Leases && c.Elect
	return c
}

// DefaultStorage is the storage a Config gets by default.
var DefaultStorage = StorageEnv

// Faults is a run's fault profile. Probabilities are per tick unless
// said otherwise.
type Faults struct {
	// Network (memnet): per message.
	Loss, Duplicate, Reorder float64
	MaxDelay                 uint64
	// Commit: a commit group on the master.
	Commit float64
	// Crash: a random live site crashes (Torn: the fraction of crashes
	// that keep a random prefix of an unsynced append).
	Crash, Torn float64
	// Partition: the sites split in two groups for a while.
	Partition float64
	// Failover: the run deposes a live master and appoints the most
	// up-to-date live site.
	Failover float64
	// Sync: a site makes its log durable (per site per tick, and after
	// each Ready that appended).
	Sync float64
	// Archive: a random live site removes old log (when it retains
	// nothing for an internal init), so lagging sites need internal init.
	Archive float64
	// Tell: at a failover, the chance that a live site is told the new
	// master directly (rep_start) rather than learning it from messages.
	Tell float64
	// Peer: the chance that a site is configured with a
	// client-to-client peer (per site, per run).
	Peer float64

	// Election mode only (Config.Elect), drawn after the above so that
	// appointment runs replay as before.
	//
	// CrashMaster: the fraction of crashes aimed at the master (else a
	// random live site). Silent: the fraction of crashes that are a
	// power loss: no connection reset, the other sites notice only by
	// rep's heartbeat monitor.
	CrashMaster, Silent float64
	// Mute: a site (the master, mostly) goes silent for a while without
	// a connection event, as a hung process or a black-holed link: it
	// keeps running, its messages and those to it are lost.
	Mute float64
	// VoterCrash: the chance that a site crashes right after sending a
	// VOTE2, restarting within a few ticks, in the election it voted in.
	VoterCrash float64
}

// drawFaults picks a run's fault profile: a mix of calm and rough runs.
func drawFaults(r *rand.Rand) Faults {
	pick := func(xs ...float64) float64 { return xs[r.IntN(len(xs))] }
	return Faults{
		Loss:      pick(0, 0, 0.02, 0.1, 0.3),
		Duplicate: pick(0, 0.02, 0.1),
		Reorder:   pick(0, 0.05, 0.2),
		MaxDelay:  uint64(r.IntN(6)),
		Commit:    pick(0.1, 0.3, 0.6),
		Crash:     pick(0, 0.005, 0.01, 0.02),
		Torn:      0.5,
		Partition: pick(0, 0.005, 0.02),
		Failover:  pick(0, 0.003, 0.01),
		Sync:      pick(0.2, 0.5, 0.9),
		Archive:   pick(0, 0.01, 0.03),
		Tell:      pick(1, 0.7, 0.3),
		Peer:      pick(0, 0.5),
	}
}

// drawElectFaults adds the election-mode faults to f.
func drawElectFaults(r *rand.Rand, f *Faults) {
	pick := func(xs ...float64) float64 { return xs[r.IntN(len(xs))] }
	f.CrashMaster = pick(0.3, 0.6, 0.9)
	f.Silent = pick(0, 0.5)
	f.Mute = pick(0, 0.003, 0.01)
	f.VoterCrash = pick(0, 0.1, 0.3)
	if f.Crash == 0 && f.Mute == 0 && f.Partition == 0 {
		// Elections need something to elect about.
		f.Crash = 0.01
	}
}

// Result is the outcome of one run.
type Result struct {
	Seed uint64
	// Hash is a hash of the trace: the same seed must give the same hash.
	Hash   uint64
	Ticks  int
	Faults Faults
	// Counters of what happened.
	Commits, Permanent, NotPermanent, Exempt int
	Crashes, Failovers, Partitions           int
	RolledBack, Inits                        int
	Messages                                 uint64
	// Election mode: elections won, mute faults, and the ticks from the
	// end of the faults until the final master accepted writes.
	Elect            bool
	Elections, Mutes int
	HealElectTicks   int
	// Violations found; empty when every invariant held.
	Violations []string
}

// Failed reports whether an invariant was violated.
func (r Result) Failed() bool { return len(r.Violations) > 0 }

func (r Result) String() string {
	s := fmt.Sprintf("seed %d: %d ticks, %d commits (%d permanent, %d not, %d exempt), %d crashes, %d failovers, %d partitions, %d rolled back, %d inits, %d msgs, hash %016x",
		r.Seed, r.Ticks, r.Commits, r.Permanent, r.NotPermanent, r.Exempt, r.Crashes, r.Failovers, r.Partitions, r.RolledBack, r.Inits, r.Messages, r.Hash)
	if r.Elect {
		s += fmt.Sprintf("; elect: %d elections won, %d mutes, master %d ticks after heal", r.Elections, r.Mutes, r.HealElectTicks)
	}
	for _, v := range r.Violations {
		s += "\n  VIOLATION: " + v
	}
	return s
}

// ReplayCommand is the one command that replays the run cfg describes
// (its seed, storage, shape and mode).
func ReplayCommand(cfg Config) string {
	c := fmt.Sprintf("go run ./tools/simrun -seed %d -v", cfg.Seed)
	if cfg.Storage != "" && cfg.Storage != DefaultStorage {
		c += " -storage " + string(cfg.Storage)
	}
	if cfg.Sites != 0 {
		c += fmt.Sprintf(" -sites %d", cfg.Sites)
	}
	if cfg.Ticks != 0 {
		c += fmt.Sprintf(" -ticks %d", cfg.Ticks)
	}
	if cfg.Elect {
		c += " -elect"
	}
	if cfg.Leases {
		c += " -leases"
	}
	if cfg.Timeouts != "" {
		c += " -timeouts " + string(cfg.Timeouts)
	}
	return c
}

// site is one member of the group.
type site struct {
	id    rep.SiteID
	peer  rep.SiteID
	store Storage
	node  *rep.Node // nil while crashed
	ep    *memnet.Endpoint
	// status is the last Ready.Status.
	status rep.Status

	// Election mode (elect.go).
	el        *elect.Node // nil while crashed
	lastRec   lsn.LSN     // last durable record told to el
	mutedTill int         // > now: the site's messages are lost
	// writableSince: the tick since which the site has been rep master
	// with elect's CanWrite, continuously; 0 when it is not.
	writableSince int
}

func (s *site) up() bool { return s.node != nil }

// commit is one transaction committed on a master.
type commit struct {
	id       int
	site     rep.SiteID
	rec      RecID
	key, val string // the commit's unique key
	result   int    // 0 pending, 1 permanent, -1 not permanent
	exempt   bool   // reported permanent by a master the run had deposed
}

// commitKey finds the commit a result is for: the latest commit at that
// LSN on that site (a rollback may reuse an LSN; results for the older
// commit never come, as a change of role drops them).
type commitKey struct {
	site rep.SiteID
	at   lsn.LSN
}

// Sim is one run in progress.
type Sim struct {
	cfg    Config
	f      Faults
	rng    *rand.Rand
	now    int
	net    *memnet.Network
	sites  []*site
	dir    string
	master rep.SiteID // appointed by the run; 0 before the first
	gen    uint64
	heal   bool // the faults have healed

	partitionUntil int // > now: a partition is in place
	failoverAt     int // > 0: appoint a new master at this tick
	restartAt      map[rep.SiteID]int
	snapID         uint64

	commits []*commit
	byKey   map[commitKey]*commit
	perm    map[RecID]*commit

	// Election mode (elect.go).
	ecfg      elect.Config                   // timeouts and leases of every site
	hard      map[rep.SiteID]elect.HardState // persisted; survives crashes
	genMaster map[uint64]rep.SiteID          // every generation's master, ever
	votes     map[voteKey]elect.SiteID       // each vote cast, ever
	crashSoon []*site                        // voters to crash after their turn
	healAt    int                            // tick the faults healed
	lastWrite struct {
		site rep.SiteID
		at   int
	} // the newest commit (Failover)
	reported map[string]bool // violations reported once

	trace io.Writer
	h     hash64
	res   Result
}

type hash64 interface {
	io.Writer
	Sum64() uint64
}

// Run runs one simulation and checks its invariants. The error is for a
// run that could not be carried out (a storage failure); invariant
// violations are in Result.Violations.
func Run(cfg Config) (res Result, err error) {
	return run(cfg, func(s *Sim) {
		for s.now < s.cfg.Ticks {
			s.step()
		}
	})
}

// run makes a Sim for cfg, sets the group up, lets faulty drive the
// faulty phase, then heals, settles and checks the end state.
func run(cfg Config, faulty func(*Sim)) (res Result, err error) {
	cfg = cfg.withDefaults()
	s := &Sim{
		cfg:       cfg,
		rng:       rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5bd1e995)),
		restartAt: map[rep.SiteID]int{},
		byKey:     map[commitKey]*commit{},
		perm:      map[RecID]*commit{},
		trace:     cfg.Trace,
		h:         fnv.New64a(),
	}
	s.res.Seed = cfg.Seed
	s.res.Elect = cfg.Elect
	s.f = drawFaults(s.rng)
	if cfg.Elect {
		drawElectFaults(s.rng, &s.f)
		s.initElect()
	}
	if cfg.Faults != nil {
		s.f = *cfg.Faults
	}
	s.res.Faults = s.f
	defer func() {
		if cerr := s.close(); err == nil && cerr != nil {
			err = cerr
		}
		s.res.Hash = s.h.Sum64()
		res = s.res
	}()
	defer func() {
		if r := recover(); r != nil {
			if fe, ok := r.(fatal); ok {
				err = fe.err
				return
			}
			panic(r)
		}
	}()
	s.setup()
	faulty(s)
	s.healAll()
	settled := false
	for range cfg.SettleTicks {
		s.step()
		if s.quiescent() {
			settled = true
			break
		}
	}
	if !settled {
		s.violate("no quiescence %d ticks after the faults healed: %s", cfg.SettleTicks, s.describe())
	} else if cfg.Elect {
		s.checkHealElection()
	}
	s.checkEnd()
	s.res.Ticks = s.now
	s.res.Messages += s.net.Stats().Sent
	return s.res, nil
}

// fatal carries a storage error out of the run.
type fatal struct{ err error }

func (s *Sim) must(err error, format string, args ...any) {
	if err != nil {
		panic(fatal{fmt.Errorf("seed %d tick %d: %s: %w", s.cfg.Seed, s.now, fmt.Sprintf(format, args...), err)})
	}
}

func (s *Sim) tracef(format string, args ...any) {
	line := fmt.Sprintf("t=%d ", s.now) + fmt.Sprintf(format, args...) + "\n"
	io.WriteString(s.h, line)
	if s.trace != nil {
		io.WriteString(s.trace, line)
	}
}

// note writes to the trace only, not its hash: details that are not
// deterministic (the applier's progress in real time).
func (s *Sim) note(format string, args ...any) {
	if s.trace != nil {
		fmt.Fprintf(s.trace, "t=%d (%s)\n", s.now, fmt.Sprintf(format, args...))
	}
}

func (s *Sim) violate(format string, args ...any) {
	v := fmt.Sprintf("tick %d: ", s.now) + fmt.Sprintf(format, args...)
	s.res.Violations = append(s.res.Violations, v)
	s.tracef("VIOLATION %s", v)
}

func (s *Sim) setup() {
	s.net = memnet.New(memnet.Config{
		Seed: s.rng.Uint64(), Loss: s.f.Loss, Duplicate: s.f.Duplicate,
		Reorder: s.f.Reorder, ReorderTicks: 10, MaxDelay: s.f.MaxDelay, InboxLen: 1 << 16,
	})
	if s.cfg.Storage == StorageEnv {
		d, err := os.MkdirTemp(s.cfg.Dir, fmt.Sprintf("sim-%d-", s.cfg.Seed))
		s.must(err, "temp dir")
		s.dir = d
	}
	for i := 1; i <= s.cfg.Sites; i++ {
		st := &site{id: rep.SiteID(i)}
		if s.rng.Float64() < s.f.Peer {
			// A peer among the other sites.
			p := rep.SiteID(1 + s.rng.IntN(s.cfg.Sites-1))
			if p >= st.id {
				p++
			}
			st.peer = p
		}
		var err error
		st.store, err = s.newStorage(st.id)
		s.must(err, "site %d: open storage", st.id)
		s.sites = append(s.sites, st)
	}
	for _, st := range s.sites {
		s.start(st)
	}
	if s.cfg.Elect {
		s.tracef("faults %+v", s.f)
	} else {
		// The line appointment runs always had, so their seeds keep
		// their trace hashes.
		f := s.f
		s.tracef("faults {Loss:%v Duplicate:%v Reorder:%v MaxDelay:%v Commit:%v Crash:%v Torn:%v Partition:%v Failover:%v Sync:%v Archive:%v Tell:%v Peer:%v}",
			f.Loss, f.Duplicate, f.Reorder, f.MaxDelay, f.Commit, f.Crash, f.Torn, f.Partition, f.Failover, f.Sync, f.Archive, f.Tell, f.Peer)
	}
	if s.cfg.Elect {
		s.tracef("elect %s", describeElect(s.ecfg))
		return // each site's elect node started an election
	}
	s.appoint("start")
}

func (s *Sim) newStorage(id rep.SiteID) (Storage, error) {
	switch s.cfg.Storage {
	case StorageMem:
		return newMemStorage(4096), nil
	case StorageEnv:
		return newEnvStorage(s.dir, id)
	}
	return nil, fmt.Errorf("sim: unknown storage %q", s.cfg.Storage)
}

// repConfig is a site's protocol configuration: small limits so that
// short runs exercise bulk splitting, throttling, gap buffers and
// several init chunks.
func (s *Sim) repConfig(st *site) rep.Config {
	c := rep.DefaultConfig()
	c.ID, c.Priority, c.Log, c.Peer = st.id, 1, st.store.Log(), st.peer
	for _, o := range s.sites {
		if o.id != st.id {
			c.Sites = append(c.Sites, rep.Site{ID: o.id})
		}
	}
	c.BulkBytes = 1 << 10
	c.ThrottleBytes = 4 << 10
	c.GapBufferBytes = 4 << 10
	c.InitChunkBytes = 1 << 10
	if s.cfg.Storage == StorageEnv {
		// A bbolt file's size depends on how the applier batched, which
		// is not deterministic: one chunk keeps the message count, and so
		// the schedule, independent of it.
		c.InitChunkBytes = rep.MaxChunkBytes
	}
	c.HeartbeatTicks = 20
	c.HeartbeatMonitorTicks = 60
	c.AckTimeoutTicks = 50
	c.RequestMaxTicks = 64
	if s.cfg.Elect {
		// env's settings with elections: heartbeat 100 ms, monitor 3x,
		// and every connection reported by the transport.
		c.HeartbeatTicks = electHeartbeatTicks
		c.HeartbeatMonitorTicks = 3 * electHeartbeatTicks
		c.StartDisconnected = true
	}
	return c
}

// start makes a site's node over its storage and attaches it to the
// network. It stays in RoleNone: the caller joins it to the group (in
// election mode its elect node, started here, does).
func (s *Sim) start(st *site) {
	n, err := rep.New(s.repConfig(st))
	s.must(err, "site %d: rep.New", st.id)
	st.node = n
	st.status = n.Status()
	st.ep = s.net.Endpoint(transport.ID(st.id))
	if s.cfg.Elect {
		s.startElect(st)
	}
}

func (s *Sim) site(id rep.SiteID) *site { return s.sites[id-1] }

func (s *Sim) liveSites() []*site {
	var out []*site
	for _, st := range s.sites {
		if st.up() {
			out = append(out, st)
		}
	}
	return out
}

func (s *Sim) majority() int { return s.cfg.Sites/2 + 1 }

// masterOK: the appointed master is up and master of the current gen.
func (s *Sim) masterOK() bool {
	if s.master == 0 {
		return false
	}
	m := s.site(s.master)
	return m.up() && m.status.Role == rep.RoleMaster && m.status.Gen == s.gen
}

// ---- one tick -----------------------------------------------------------

func (s *Sim) step() {
	s.now++
	if !s.heal {
		s.faults()
		s.workload()
	} else if !s.cfg.Elect && !s.masterOK() && s.failoverAt == 0 {
		s.failoverAt = s.now
	}
	if s.failoverAt > 0 && s.now >= s.failoverAt {
		s.failoverAt = 0
		if !s.appoint("failover") {
			s.failoverAt = s.now + 10
		}
	}
	s.net.Tick()
	for _, st := range s.sites {
		if !st.up() {
			continue
		}
		s.drain(st)
		// One sim tick is one rep tick and one elect tick: both count
		// TickMillis (10 ms) per tick, as env's driver ticks both on
		// one ticker.
		st.node.Tick()
		if st.el != nil {
			st.el.Tick()
		}
		s.process(st)
		if s.heal || s.rng.Float64() < s.f.Sync {
			s.sync(st)
		}
		if s.cfg.Elect {
			s.afterTurn()
		}
	}
}

// drain delivers a site's inbox to its node.
func (s *Sim) drain(st *site) {
	for {
		var m transport.Message
		select {
		case m = <-st.ep.Recv():
		default:
			return
		}
		from := rep.SiteID(m.From)
		switch m.Kind {
		case transport.KindConnUp:
			s.tracef("conn-up %d->%d", from, st.id)
			st.node.PeerUp(from)
		case transport.KindConnDown:
			s.tracef("conn-down %d->%d", from, st.id)
			st.node.PeerDown(from)
		default:
			if s.muted(st.id) {
				continue // arrived at a hung site: lost
			}
			if len(m.Body) > 0 && m.Body[0] == envelopeElect {
				s.receiveElect(st, from, m.Body[1:])
				break
			}
			if len(m.Body) == 0 || m.Body[0] != envelopeRep {
				s.violate("site %d: message from %d without an envelope byte", st.id, from)
				continue
			}
			msg, err := rep.Unmarshal(m.Body[1:])
			if err != nil {
				s.violate("site %d: undecodable message from %d: %v", st.id, from, err)
				continue
			}
			s.tracef("recv %s", traceMsg(msg))
			if s.promisedAway(st, msg) {
				continue
			}
			if err := st.node.Step(msg); err != nil {
				s.violate("site %d: Step(%s): %v", st.id, msg, err)
				break
			}
			s.repSeen(st, msg)
		}
		s.process(st)
	}
}

// traceMsg describes a message without what is not deterministic with env
// storage (snapshot sizes, record checksums, which carry commit times).
func traceMsg(m rep.Message) string {
	s := fmt.Sprintf("%s %d->%d g%d lsn=%s last=%s", m.Type, m.From, m.To, m.Gen, m.LSN, m.Last)
	if len(m.Records) > 0 {
		s += fmt.Sprintf(" [%s..%s]x%d", m.Records[0].LSN, m.Records[len(m.Records)-1].LSN, len(m.Records))
	}
	if m.Snap != nil {
		s += " snap@" + m.Snap.LSN.String() // IDs of env snapshots come from the clock
	}
	return s
}

// process carries out the site's rep Ready until it has none, then its
// elect Ready (whose role decisions give rep more work), until neither
// has anything, as env's driver does.
func (s *Sim) process(st *site) {
	for st.up() {
		s.processRep(st)
		if st.el == nil || !s.processElect(st) {
			return
		}
	}
}

// processRep carries out a site's rep Ready until it has none, in the
// order of the Ready contract.
func (s *Sim) processRep(st *site) {
	for range 1000 {
		rd := st.node.Ready()
		if st.node.HasReady() == rd.Empty() {
			s.must(errors.New("HasReady disagrees with Ready"), "site %d: %s", st.id, describeReady(rd))
		}
		if rd.Empty() {
			return
		}
		if rd.Rollback != nil {
			s.tracef("site %d rollback to %s from %s", st.id, rd.Rollback.To, rd.Rollback.From)
		}
		if rd.Install != nil {
			s.tracef("site %d install snap@%s", st.id, rd.Install.Snap.LSN)
		}
		rolled, err := st.store.Carry(rd)
		s.must(err, "site %d: carry out %s", st.id, describeReady(rd))
		s.rolledBack(st, rolled)
		for _, m := range rd.Messages {
			if st.el != nil && repelect.AckPromisedAway(st.el.Promised(), m) {
				s.tracef("site %d withholds ACK to %d: promised election %d", st.id, m.To, st.el.Promised())
				continue // as env's driver: no ack for a master older than our vote
			}
			b, err := rep.Marshal(m)
			if err != nil {
				s.violate("site %d: Marshal(%s): %v", st.id, m, err)
				continue
			}
			s.send(st, m.To, envelopeRep, b) // lost if not connected: rep retransmits
		}
		for _, c := range rd.Commits {
			s.commitResult(st, c)
		}
		for _, e := range rd.Events {
			s.tracef("site %d event %s", st.id, e)
			if e.Type == rep.EventInitStarted {
				s.res.Inits++
			}
			s.repEventSeen(st, e)
		}
		if rd.Status != nil {
			prev := st.status.Err
			st.status = *rd.Status
			if err := st.status.Err; err != nil && (prev == nil || prev.Error() != err.Error()) {
				s.violate("site %d: status error %v", st.id, err)
			}
		}
		st.node.Advance(rd)
		if rd.TakeSnapshot {
			s.snapID++
			info, r, err := st.store.Snapshot(s.snapID)
			s.must(err, "site %d: snapshot", st.id)
			s.tracef("site %d snapshot@%s", st.id, info.LSN)
			if err := st.node.SnapshotTaken(info, r); err != nil {
				s.violate("site %d: SnapshotTaken: %v", st.id, err)
			}
		}
		for _, id := range rd.ReleaseSnapshots {
			st.store.Release(id)
		}
		if len(rd.Append) > 0 && (s.heal || s.rng.Float64() < s.f.Sync) {
			s.sync(st)
		}
	}
	s.must(errors.New("Ready never drained"), "site %d", st.id)
}

func describeReady(rd rep.Ready) string {
	var b strings.Builder
	if rd.Rollback != nil {
		fmt.Fprintf(&b, "rollback to %s; ", rd.Rollback.To)
	}
	if len(rd.Chunks) > 0 {
		fmt.Fprintf(&b, "%d chunks; ", len(rd.Chunks))
	}
	if rd.Install != nil {
		fmt.Fprintf(&b, "install %s; ", rd.Install.Snap.LSN)
	}
	if n := len(rd.Append); n > 0 {
		fmt.Fprintf(&b, "append %s..%s", rd.Append[0].LSN, rd.Append[n-1].LSN)
	}
	return b.String()
}

func (s *Sim) sync(st *site) {
	d, err := st.store.Sync()
	s.must(err, "site %d: sync", st.id)
	st.node.Persisted(d)
	s.process(st)
}

// ---- workload -----------------------------------------------------------

// workload commits a group of 1-3 transactions on the master. Now and
// then it commits on a deposed master that does not know it yet, as an
// application would.
func (s *Sim) workload() {
	if s.rng.Float64() >= s.f.Commit {
		return
	}
	var masters []*site
	for _, st := range s.sites {
		if st.up() && st.status.Role == rep.RoleMaster && (st.el == nil || st.el.WriteErr() == nil) {
			masters = append(masters, st)
		}
	}
	if len(masters) == 0 {
		return
	}
	st := masters[s.rng.IntN(len(masters))]
	gen := st.status.Gen
	var recs []rep.Record
	for range 1 + s.rng.IntN(3) {
		c := &commit{id: len(s.commits) + 1, site: st.id}
		c.key, c.val = fmt.Sprintf("u%05d", c.id), fmt.Sprintf("g%d-%x", gen, s.rng.Uint32())
		w := []KV{{c.key, c.val}}
		for range s.rng.IntN(3) {
			w = append(w, KV{fmt.Sprintf("k%02d", s.rng.IntN(16)), fmt.Sprintf("v%x", s.rng.Uint32())})
		}
		r, err := st.store.Commit(gen, w)
		s.must(err, "site %d: commit", st.id)
		c.rec = RecID{r.LSN, r.Gen, r.Checksum}
		s.commits = append(s.commits, c)
		s.byKey[commitKey{st.id, r.LSN}] = c
		s.res.Commits++
		s.tracef("site %d commit %d at %s g%d %v", st.id, c.id, r.LSN, gen, w)
		recs = append(recs, r)
	}
	s.lastWrite.site, s.lastWrite.at = st.id, s.now
	if err := st.node.Appended(recs); err != nil {
		s.violate("site %d: Appended: %v", st.id, err)
	}
	s.process(st)
}

func (s *Sim) commitResult(st *site, cr rep.CommitResult) {
	c := s.byKey[commitKey{st.id, cr.LSN}]
	if c == nil {
		s.violate("site %d: result for unknown commit at %s", st.id, cr.LSN)
		return
	}
	if c.result != 0 {
		s.violate("site %d: second result for commit %d at %s", st.id, c.id, cr.LSN)
		return
	}
	s.tracef("site %d commit %d permanent=%t", st.id, c.id, cr.Permanent)
	if !cr.Permanent {
		c.result = -1
		s.res.NotPermanent++
		return
	}
	c.result = 1
	s.res.Permanent++
	if !s.cfg.Elect && (st.id != s.master || st.node.Status().Gen != s.gen) {
		// The run deposed this master before it reported: an election
		// with leases closes that window; appointment does not.
		c.exempt = true
		s.res.Exempt++
		return
	}
	s.perm[c.rec] = c
}

// rolledBack checks that no record reported permanent was rolled back.
func (s *Sim) rolledBack(st *site, recs []RecID) {
	s.res.RolledBack += len(recs)
	for _, r := range recs {
		if c := s.perm[r]; c != nil {
			s.violate("site %d rolled back commit %d at %s (g%d), reported permanent by site %d",
				st.id, c.id, r.LSN, r.Gen, c.site)
		}
	}
}

func (s *Sim) close() error {
	var errs []error
	for _, st := range s.sites {
		if st.store != nil {
			if err := st.store.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if s.dir != "" {
		errs = append(errs, os.RemoveAll(s.dir))
	}
	return errors.Join(errs...)
}
