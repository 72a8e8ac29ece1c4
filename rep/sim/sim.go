package sim

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"

	"logship/elect"
	"logship/env"
	"logship/internal/sitecore"
	"logship/rep"
	"logship/rep/transport"
	"logship/rep/transport/memnet"
	"logship/wal/lsn"
)

// Config configures one run. The zero value of every field but Seed
// means its default.
type Config struct {
	// Seed decides everything: the group's configuration, the fault
	// profile, the schedule, the workload and the network.
	Seed uint64
	// Sites is the group size (default: drawn, 3 to 5; a witness group
	// is two data sites and a witness).
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
	// Mode fixes the kind of group (default: drawn from the seed).
	Mode Mode
	// Timeouts fixes elect's timeouts (default: drawn from the seed).
	Timeouts Timeouts
	// Group replaces the drawn group configuration; Faults the drawn
	// fault profile.
	Group  *Group
	Faults *Faults
	// Trace, when set, receives the run's trace, one event a line.
	Trace io.Writer

	// NoMembers: never change the membership (by default a run in
	// election mode without a witness may: members.go).
	NoMembers bool
	// NoBadSnapshots: no damaged snapshots (Faults.BadSnapshot 0), so
	// that a seed recorded before they were drawn replays its run.
	NoBadSnapshots bool
	// NoLinkCuts: no single cut links (Faults.Link 0), for the same
	// reason.
	NoLinkCuts bool

	// promiseAll (tests of the checker only): hold every policy to
	// quorum's promise.
	promiseAll bool
}

// Timeouts names a set of elect timeouts.
type Timeouts string

const (
	// TimeoutsDefault is repnode's defaults (elect.DefaultConfig's).
	TimeoutsDefault Timeouts = "default"
	// TimeoutsTight is flags for elect.TightConfig's timeouts.
	TimeoutsTight Timeouts = "tight"
)

func (c Config) withDefaults() Config {
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
	return c
}

// DefaultStorage is the storage a Config gets by default.
var DefaultStorage = StorageEnv

// Result is the outcome of one run.
type Result struct {
	Seed uint64
	// Hash is a hash of the trace: the same seed must give the same hash.
	Hash   uint64
	Ticks  int
	Group  Group
	Faults Faults
	// Counters of what happened.
	Commits, Permanent, NotPermanent, Exempt int
	Crashes, Failovers, Partitions, LinkCuts int
	RolledBack, Inits                        int
	Messages                                 uint64
	// Elections won, mute faults, and the ticks from the end of the
	// faults until the final master accepted writes (election mode).
	Elections, Mutes int
	HealElectTicks   int
	// Storage failures injected, planned transfers started, run-time
	// priority changes, syncs of delayed clients.
	StorageFaults, Transfers, PriorityChanges, DelayedSyncs int
	// MemberChanges: membership records written (members.go).
	MemberChanges int
	// BadSnapshots: installs that found their snapshot damaged
	// (Faults.BadSnapshot) and started the init over, or halted.
	BadSnapshots int
	// DiscardChecks: inits whose discard point was compared with the
	// installing master's record there (checkDiscard); DiscardsShared:
	// those of them that kept less than the whole log.
	DiscardChecks, DiscardsShared int
	// Reads: lease reads answered, token reads answered and refused as
	// never to be applied. The token counts depend on the applier's
	// progress in real time, so they are not in the hash.
	LeaseReads, TokenReads, NeverApplied int
	// Violations found; empty when every invariant held.
	Violations []string
}

// Failed reports whether an invariant was violated.
func (r Result) Failed() bool { return len(r.Violations) > 0 }

func (r Result) String() string {
	s := fmt.Sprintf("seed %d: %s\n  %d ticks, %d commits (%d permanent, %d not, %d exempt), %d crashes, %d storage faults, %d failovers, %d partitions, %d links cut, %d rolled back, %d inits, %d msgs, hash %016x",
		r.Seed, r.Group, r.Ticks, r.Commits, r.Permanent, r.NotPermanent, r.Exempt, r.Crashes, r.StorageFaults, r.Failovers, r.Partitions, r.LinkCuts, r.RolledBack, r.Inits, r.Messages, r.Hash)
	s += fmt.Sprintf("; %d lease reads, %d token reads, %d never applied; %d transfers, %d priority changes, %d delayed syncs, %d membership changes, %d damaged snapshots",
		r.LeaseReads, r.TokenReads, r.NeverApplied, r.Transfers, r.PriorityChanges, r.DelayedSyncs, r.MemberChanges, r.BadSnapshots)
	if r.Group.Elect {
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
	if cfg.Mode != ModeDrawn {
		c += " -mode " + string(cfg.Mode)
	}
	if cfg.Timeouts != "" {
		c += " -timeouts " + string(cfg.Timeouts)
	}
	return c
}

// member is one site of the group.
type member struct {
	id      rep.SiteID
	setup   MemberSetup
	witness bool
	cur     uint // priority now (SetPriority at run time; the flag's after a restart)
	store   Storage
	core    *sitecore.Core // nil while down
	ep      *memnet.Endpoint
	// status is rep's status after the last Ready.
	status    rep.Status
	mutedTill int // > now: the site's messages are lost
	// writableSince: the tick since which the site has accepted writes,
	// continuously; 0 when it does not.
	writableSince int
	// badSnaps: damaged snapshots in a row (drive.go), as the runtime's
	// Site counts them.
	badSnaps int
	// halted: its storage failed and its core halted; it stays so until
	// the run restarts it, repaired.
	halted bool
	// fault is the storage fault injected since the site last started
	// ("" for none).
	fault  string
	marked uint64        // the generation whose first record it committed
	xfer   *transfer     // planned transfer this master is carrying out
	reads  []*leaseRead  // lease reads waiting for the commit point
	snaps  []pendingSnap // snapshots being taken (drive.go)
}

func (m *member) up() bool { return m.core != nil }

// data reports whether the site keeps data (not a witness) and is up.
func (m *member) data() bool { return m.up() && !m.witness }

// commit is one transaction committed on a master.
type commit struct {
	id       int
	site     rep.SiteID
	rec      RecID
	tok      env.Token
	key, val string // the commit's unique key
	result   int    // 0 pending, 1 permanent, -1 not permanent, resultUnknown

	exempt bool // reported permanent by a deposed master (appointment)
}

// resultUnknown: the commit's site went down before it reported.
const resultUnknown = -2

type commitKey struct {
	site rep.SiteID
	at   lsn.LSN
}

// Sim is one run in progress.
type Sim struct {
	cfg Config
	g   Group
	rng *rand.Rand
	f   Faults
	// badRng decides Faults.BadSnapshot, linkRng Faults.Link, apart
	// from rng.
	badRng, linkRng *rand.Rand
	// linkCuts: the links cut (Faults.Link), lower ID first, and until
	// when.
	linkCuts map[[2]rep.SiteID]int
	net      *memnet.Network
	dir      string
	sites    []*member
	now      int

	// The master as the run knows it: appointed, or, in election mode,
	// the newest elected.
	master rep.SiteID
	gen    uint64
	// failoverAt: appointment mode: when to appoint a master.
	failoverAt     int
	restartAt      map[rep.SiteID]int
	partitionUntil int
	heal           bool
	healAt         int

	commits []*commit
	byKey   map[commitKey]*commit
	// perm: commits reported permanent whose ack policy promises they
	// survive every failover. final: records nothing may roll back (a
	// master's commit point, what a lease read returned), with why.
	perm  map[RecID]*commit
	final map[RecID]string

	// Elections.
	ecfg      *elect.Config // every data site's (the timeouts)
	monitor   int           // rep's heartbeat monitor, in ticks
	hard      map[rep.SiteID]elect.HardState
	genMaster map[uint64]rep.SiteID
	votes     map[voteKey]elect.SiteID
	crashSoon []*member // voters to crash after this turn
	lastWrite struct {
		site rep.SiteID
		at   int
	} // the newest commit (Failover)
	reported map[string]bool // violations reported once

	mem memberRun // membership changes (members.go)

	trace io.Writer
	h     hash64
	res   Result
}

type hash64 interface {
	io.Writer
	Sum64() uint64
}

// Run runs one simulation and checks its invariants. The error is for a
// run that could not be carried out (a storage failure the run did not
// inject); invariant violations are in Result.Violations.
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
		final:     map[RecID]string{},
		hard:      map[rep.SiteID]elect.HardState{},
		genMaster: map[uint64]rep.SiteID{},
		votes:     map[voteKey]elect.SiteID{},
		reported:  map[string]bool{},
		trace:     cfg.Trace,
		h:         fnv.New64a(),
	}
	s.res.Seed = cfg.Seed
	s.f = drawFaults(s.rng)
	s.badRng = rand.New(rand.NewPCG(cfg.Seed^0xbad5bad5bad5bad5, cfg.Seed))
	s.f.BadSnapshot = []float64{0, 0, 0.3}[s.badRng.IntN(3)]
	if cfg.NoBadSnapshots {
		s.f.BadSnapshot = 0
	}
	s.linkRng = rand.New(rand.NewPCG(cfg.Seed^0x11ac11ac11ac11ac, cfg.Seed))
	s.f.Link = []float64{0, 0, 0.005, 0.02}[s.linkRng.IntN(4)]
	if cfg.NoLinkCuts {
		s.f.Link = 0
	}
	s.linkCuts = map[[2]rep.SiteID]int{}
	if cfg.Faults != nil {
		s.f = *cfg.Faults
	}
	s.g = drawGroup(s.rng, cfg, s.f)
	if cfg.Group != nil {
		s.g = *cfg.Group
	}
	s.res.Faults, s.res.Group = s.f, s.g
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
	} else if s.g.Elect {
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

// violateOnce reports a violation the first time key is seen: a
// condition that holds for many ticks is one finding.
func (s *Sim) violateOnce(key, format string, args ...any) {
	if s.reported[key] {
		return
	}
	s.reported[key] = true
	s.violate(format, args...)
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
	s.tracef("group %s", s.g)
	s.tracef("faults %+v", s.f)
	s.drawMembers()
	if s.mem.on {
		s.tracef("membership changes %s", s.mem)
	}
	for i, ms := range s.g.Members {
		m := &member{id: rep.SiteID(i + 1), setup: ms, witness: ms.Witness, cur: ms.Priority}
		if !m.witness {
			var err error
			m.store, err = s.newStorage(m.id)
			s.must(err, "site %d: open storage", m.id)
		}
		s.sites = append(s.sites, m)
	}
	for _, m := range s.sites {
		s.start(m)
	}
	if s.g.Elect {
		s.tracef("elect %s", describeElect(s.ecfg))
		return // each site's core started an election
	}
	s.appoint("start")
}

func (s *Sim) newStorage(id rep.SiteID) (Storage, error) {
	switch s.cfg.Storage {
	case StorageMem:
		return newMemStorage(4096), nil
	case StorageEnv:
		dc := s.g.daemonConfig(s.dir, id)
		return newEnvStorage(filepath.Join(s.dir, fmt.Sprintf("site-%d", id)), id, dc.EnvConfig())
	}
	return nil, fmt.Errorf("sim: unknown storage %q", s.cfg.Storage)
}

// start makes a site's core over its storage, as repnode does at start
// (newCore), and attaches it to the network. With elections the core
// takes part in one at once; appointed, it waits for the run.
func (s *Sim) start(m *member) {
	m.ep = s.net.Endpoint(transport.ID(m.id))
	m.cur = m.setup.Priority
	m.core = s.newCore(m)
	m.writableSince, m.halted, m.fault, m.xfer, m.reads, m.marked = 0, false, "", nil, nil, 0
	m.status = m.core.Status().Rep
	s.process(m)
}

func (s *Sim) site(id rep.SiteID) *member { return s.sites[id-1] }

func (s *Sim) liveSites() []*member {
	var out []*member
	for _, m := range s.sites {
		if m.up() {
			out = append(out, m)
		}
	}
	return out
}

// masterOK: the run's master is up and master of the current gen.
func (s *Sim) masterOK() bool {
	if s.master == 0 {
		return false
	}
	m := s.site(s.master)
	return m.data() && m.status.Role == rep.RoleMaster && m.status.Gen == s.gen
}

// ---- one tick -----------------------------------------------------------

func (s *Sim) step() {
	s.now++
	if !s.heal {
		s.faults()
		s.workload()
	} else {
		s.operate()
		if !s.g.Elect && !s.masterOK() && s.failoverAt == 0 {
			s.failoverAt = s.now
		}
	}
	if s.failoverAt > 0 && s.now >= s.failoverAt {
		s.failoverAt = 0
		if !s.appoint("failover") {
			s.failoverAt = s.now + 10
		}
	}
	s.net.Tick()
	for _, m := range s.sites {
		if !m.up() {
			continue
		}
		s.drain(m)
		if !m.up() {
			continue
		}
		// One sim tick is one rep tick and one elect tick: both count
		// TickMillis (10 ms) per tick, as the runtime ticks its core.
		m.core.Tick()
		s.process(m)
		s.deliverSnaps(m)
		s.duties(m)
		s.markGeneration(m)
		if !m.witness && (s.heal || s.rng.Float64() < s.f.Sync) {
			s.sync(m)
		}
		s.afterTurn()
	}
}

// drain delivers a site's inbox to its core.
func (s *Sim) drain(m *member) {
	for m.up() {
		var tm transport.Message
		select {
		case tm = <-m.ep.Recv():
		default:
			return
		}
		from := rep.SiteID(tm.From)
		switch tm.Kind {
		case transport.KindConnUp:
			s.tracef("conn-up %d->%d", from, m.id)
			m.core.PeerUp(from)
		case transport.KindConnDown:
			s.tracef("conn-down %d->%d", from, m.id)
			m.core.PeerDown(from)
		default:
			if s.muted(m.id) {
				continue // arrived at a hung site: lost
			}
			s.traceBody(from, tm.Body)
			if err := m.core.Receive(from, tm.Body); err != nil {
				s.violate("site %d: Receive from %d: %v", m.id, from, err)
			}
		}
		s.process(m)
	}
}

// traceBody traces a received message without what is not deterministic
// with env storage (snapshot ids and sizes, record checksums, which carry
// commit times).
func (s *Sim) traceBody(from rep.SiteID, b []byte) {
	if len(b) == 0 {
		s.tracef("recv empty body from %d", from)
		return
	}
	switch b[0] {
	case sitecore.EnvelopeRep:
		m, err := rep.Unmarshal(b[1:])
		if err != nil {
			s.tracef("recv bad rep message from %d: %v", from, err)
			return
		}
		t := fmt.Sprintf("recv %s %d->%d g%d lsn=%s last=%s", m.Type, m.From, m.To, m.Gen, m.LSN, m.Last)
		if len(m.Records) > 0 {
			t += fmt.Sprintf(" [%s..%s]x%d", m.Records[0].LSN, m.Records[len(m.Records)-1].LSN, len(m.Records))
		}
		if m.Snap != nil {
			t += " snap@" + m.Snap.LSN.String()
		}
		s.tracef("%s", t)
	case sitecore.EnvelopeElect:
		m, err := elect.Unmarshal(b[1:])
		if err != nil {
			s.tracef("recv bad elect message from %d: %v", from, err)
			return
		}
		s.tracef("recv %s %d->%d e%d g%d", m.Type, m.From, m.To, m.EGen, m.Gen)
	}
}

func (s *Sim) close() error {
	var errs []error
	for _, m := range s.sites {
		if m.store != nil {
			failed := m.store.Failure() != nil
			if err := m.store.Close(); err != nil && !failed {
				errs = append(errs, err)
			}
		}
	}
	if s.dir != "" {
		errs = append(errs, os.RemoveAll(s.dir))
	}
	return errors.Join(errs...)
}
