package sim

// The group's configuration.
//
// A seed draws its group the way an operator would configure one: a
// repnode command line per site (internal/daemon.Config), validated by
// the daemon's own Validate, translated by the daemon's own SiteConfig
// into the runtime's configuration (env/site.Config) and by the
// runtime's own CoreConfig into the site core's, over the environment
// configuration the daemon derives (daemon.Config.EnvConfig). So the
// simulator runs what repnode runs for those flags; only the transport
// (memnet), the clock (ticks) and the disk (a crashable MemFS for the
// log) are the run's.

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"time"

	"logship/elect"
	envsite "logship/env/site"
	"logship/internal/daemon"
	"logship/internal/sitecore"
	"logship/rep"
	"logship/rep/transport"
)

// Mode fixes the kind of group a run draws (Config.Mode).
type Mode string

const (
	// ModeDrawn (the zero Mode): the seed draws everything.
	ModeDrawn Mode = ""
	// ModeAppoint: no elections; the run appoints masters, as the
	// operator of --master / --client sites does (rep_start).
	ModeAppoint Mode = "appoint"
	// ModeElect: elections, no leases, no witness.
	ModeElect Mode = "elect"
	// ModeLeases: elections with master leases, no witness.
	ModeLeases Mode = "leases"
	// ModeWitness: two data sites and a witness (leases drawn).
	ModeWitness Mode = "witness"
)

// Group is the configuration a run's sites get: what the repnode flags of
// each site say. Sites are numbered from 1; Members[i] is site i+1.
type Group struct {
	Elect    bool     // election mode (no --master / --client)
	Leases   bool     // --leases
	Ack      string   // --ack, the same on every site
	Timeouts Timeouts // elect's timeouts: the defaults, or tight flags
	// FullElection: --full-election-timeout at its default (a full
	// election at start-up); off, 0.
	FullElection bool
	Heartbeat    time.Duration // --heartbeat (0: automatic)
	AckTimeout   time.Duration // --ack-timeout
	LogFileSize  int64         // --log-file-size
	// KeepNoLog: --log-keep-bytes 0 (no log kept for lagging sites, so
	// archiving sends them to internal init); off, the daemon's default.
	KeepNoLog bool
	// Throttle is the bulk and catch-up limits (--bulk-bytes, --no-bulk,
	// --throttle-bytes, --gap-buffer-bytes, --init-chunk-bytes): small
	// ones make short runs split bulks, throttle catch-up and send
	// several init chunks. Zero: the daemon's defaults.
	Throttle envsite.Throttle
	Members  []MemberSetup
}

// MemberSetup is one site's own flags.
type MemberSetup struct {
	Priority uint   // --priority
	Witness  bool   // --witness
	Delay    bool   // --delay-client
	NoWait   bool   // --no-wait
	Peer     uint64 // --peer (0: none)
}

// electable reports whether the group counts the site as electable: its
// priority at its first start (elect fixes it then) is above 0.
func (m MemberSetup) electable() bool { return !m.Witness && m.Priority > 0 }

// Electable counts the electable sites.
func (g Group) Electable() int {
	n := 0
	for _, m := range g.Members {
		if m.electable() {
			n++
		}
	}
	return n
}

func (g Group) String() string {
	mode := "appoint"
	if g.Elect {
		mode = "elect"
		if g.Leases {
			mode += "+leases"
		}
	}
	var ms []string
	for i, m := range g.Members {
		d := fmt.Sprintf("%d:p%d", i+1, m.Priority)
		if m.Witness {
			d = fmt.Sprintf("%d:witness", i+1)
		}
		if m.Delay {
			d += ",delay"
		}
		if m.NoWait {
			d += ",nowait"
		}
		if m.Peer != 0 {
			d += fmt.Sprintf(",peer=%d", m.Peer)
		}
		ms = append(ms, d)
	}
	s := fmt.Sprintf("%s ack=%s sites=[%s] log=%d", mode, g.Ack, strings.Join(ms, " "), g.LogFileSize)
	if g.Elect {
		s += fmt.Sprintf(" timeouts=%s full=%t", g.Timeouts, g.FullElection)
	}
	if g.Heartbeat > 0 {
		s += fmt.Sprintf(" heartbeat=%v", g.Heartbeat)
	}
	if g.AckTimeout > 0 {
		s += fmt.Sprintf(" ack-timeout=%v", g.AckTimeout)
	}
	if t := g.Throttle; t != (envsite.Throttle{}) {
		s += fmt.Sprintf(" throttle=%d/%d/%d/%d nobulk=%t", t.BulkBytes, t.ThrottleBytes, t.GapBufferBytes, t.InitChunkBytes, t.NoBulk)
	}
	return s
}

// ackPolicies are the policies --ack accepts.
var ackPolicies = []string{"none", "one", "one_peer", "all", "all_peers", "quorum"}

// drawGroup draws a group: the mode (unless fixed), its size (unless
// fixed: 3, 4 or 5 sites; a witness group is 2+1), the ack policy,
// per-site priorities (0 included, ties likely; at least one site
// electable), delayed and NoWait clients, client-to-client peers, the
// election timeouts, heartbeat, ack timeout, log file size and throttle.
func drawGroup(r *rand.Rand, cfg Config, f Faults) Group {
	pick := func(n int) int { return r.IntN(n) }
	mode := cfg.Mode
	if mode == ModeDrawn {
		mode = []Mode{ModeAppoint, ModeElect, ModeElect, ModeLeases, ModeLeases, ModeWitness}[pick(6)]
	}
	g := Group{
		Elect:    mode != ModeAppoint,
		Leases:   mode == ModeLeases || mode == ModeWitness && pick(2) == 0,
		Ack:      ackPolicies[pick(len(ackPolicies))],
		Timeouts: []Timeouts{TimeoutsDefault, TimeoutsTight}[pick(2)],
		// A full election at start-up waits for every site; off, the
		// first majority elects.
		FullElection: pick(2) == 0,
		Heartbeat:    []time.Duration{0, 0, 200 * time.Millisecond}[pick(3)],
		AckTimeout:   []time.Duration{time.Second, 500 * time.Millisecond}[pick(2)],
		LogFileSize:  []int64{16 << 10, 64 << 10}[pick(2)],
	}
	if cfg.Timeouts != "" {
		g.Timeouts = cfg.Timeouts
	}
	if g.Timeouts == TimeoutsTight {
		g.Heartbeat = 0 // tight flags set their own (a lease must outlast two)
	}
	if pick(3) > 0 {
		g.Throttle = envsite.Throttle{BulkBytes: 1 << 10, ThrottleBytes: 4 << 10, GapBufferBytes: 4 << 10, InitChunkBytes: 1 << 10, NoBulk: pick(8) == 0}
	}
	n := cfg.Sites
	if n == 0 {
		n = []int{3, 3, 3, 4, 5}[pick(5)]
	}
	if mode == ModeWitness {
		n = 3
	}
	prios := []uint{0, 1, 50, 100, 100}
	for i := range n {
		m := MemberSetup{Priority: prios[pick(len(prios))], NoWait: pick(3) == 0}
		if mode == ModeWitness && i == n-1 {
			m = MemberSetup{Witness: true}
		}
		g.Members = append(g.Members, m)
	}
	if g.Electable() == 0 {
		g.Members[pick(len(g.Members)-btoi(mode == ModeWitness))].Priority = 100
	}
	for i := range g.Members {
		m := &g.Members[i]
		if m.Witness {
			continue
		}
		m.Delay = pick(6) == 0
		if r.Float64() < f.Peer {
			// A data site among the others.
			var others []uint64
			for j, o := range g.Members {
				if j != i && !o.Witness {
					others = append(others, uint64(j+1))
				}
			}
			m.Peer = others[pick(len(others))]
		}
	}
	return g
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// daemonConfig is site id's repnode configuration in g: what its flags
// say. Addresses are placeholders (memnet carries the messages).
func (g Group) daemonConfig(dir string, id rep.SiteID) daemon.Config {
	m := g.Members[id-1]
	c := daemon.DefaultConfig()
	c.Dir = filepath.Join(dir, fmt.Sprintf("site-%d", id))
	c.ID = uint64(id)
	addr := func(base int, id int) string { return fmt.Sprintf("127.0.0.1:%d", base+id) }
	c.Listen, c.HTTP = addr(17000, int(id)), addr(18000, int(id))
	c.Peers = daemon.Peers{}
	for j, o := range g.Members {
		oid := j + 1
		if rep.SiteID(oid) == id {
			continue
		}
		c.Peers[uint64(oid)] = addr(17000, oid)
		if o.Witness {
			c.WitnessPeers = append(c.WitnessPeers, uint64(oid))
		}
	}
	c.Ack, c.Leases = g.Ack, g.Leases
	c.Priority, c.Witness = m.Priority, m.Witness
	if m.Witness {
		c.Priority = 0
	}
	c.DelayClient, c.NoWait, c.Peer = m.Delay, m.NoWait, m.Peer
	c.LogFileSize, c.MaxValueSize = g.LogFileSize, 256
	if g.KeepNoLog {
		c.LogKeepBytes = 0
	}
	c.Heartbeat, c.AckTimeout = g.Heartbeat, g.AckTimeout
	if t := g.Throttle; t != (envsite.Throttle{}) {
		c.BulkBytes, c.NoBulk, c.ThrottleBytes = t.BulkBytes, t.NoBulk, t.ThrottleBytes
		c.GapBufferBytes, c.InitChunkBytes = t.GapBufferBytes, t.InitChunkBytes
		if t.InitRetainMaxBytes != 0 {
			c.InitRetainMaxBytes = t.InitRetainMaxBytes
		}
	}
	if !g.Elect {
		c.Client = true // --client: the run appoints (StartMaster, StartClient)
	}
	if g.Timeouts == TimeoutsTight {
		t := elect.TightConfig()
		tick := time.Duration(rep.TickMillis) * time.Millisecond
		c.VoteWait = time.Duration(t.VoteWaitTicks) * tick
		c.ElectionTimeout = time.Duration(t.ElectionTicks) * tick
		c.ElectionRetry = time.Duration(t.RetryTicks) * tick
		c.LeaseTimeout = 200 * time.Millisecond
		if c.Heartbeat == 0 {
			c.Heartbeat = time.Duration(t.HeartbeatTicks) * tick
		}
	}
	if !g.FullElection {
		c.FullElection = 0
	}
	return c
}

// newCore builds site st's core as repnode would for its flags: the
// daemon's configuration, validated as the daemon validates it,
// translated by daemon.Config.SiteConfig and site.Config.CoreConfig, over
// st's log (nil for a witness), its persisted election state and the
// run's randomness.
func (s *Sim) newCore(st *member) *sitecore.Core {
	dc := s.g.daemonConfig(s.dirOrNominal(), st.id)
	if err := dc.Validate(); err != nil {
		s.must(err, "site %d: the daemon refuses the drawn flags (%s)", st.id, s.g)
	}
	sc, err := dc.SiteConfig(transport.Transport(st.ep))
	s.must(err, "site %d: daemon SiteConfig", st.id)
	if s.cfg.Storage == StorageEnv {
		// A bbolt file's size depends on how the applier batched, which
		// is not deterministic: one chunk keeps the message count, and so
		// the schedule, independent of it.
		sc.Throttle.InitChunkBytes = rep.MaxChunkBytes
	}
	var log rep.LogReader
	if st.witness {
		sc = sc.ForWitness()
	} else {
		log = st.store.Log()
	}
	cc, err := sc.CoreConfig(log, s.hard[st.id], rand.New(rand.NewPCG(s.rng.Uint64(), uint64(st.id))))
	s.must(err, "site %d: CoreConfig", st.id)
	if cc.Elect != nil && s.ecfg == nil {
		ec := *cc.Elect
		s.ecfg = &ec
	}
	if cc.Rep != nil && !st.witness {
		cc.Rep.Shared = st.store.Shared() // what env gives the runtime (site.Config.CoreConfig)
	}
	if cc.Rep != nil && s.monitor == 0 {
		s.monitor = cc.Rep.HeartbeatMonitorTicks
	}
	if s.mem.on && !st.witness {
		ms := s.storedMembers(st)
		cc.Members, cc.Known = &ms, s.dataIDs()
	}
	c, err := sitecore.New(cc)
	s.must(err, "site %d: sitecore.New", st.id)
	return c
}

// dirOrNominal is the run's directory, or a nominal one for mem storage
// (the daemon requires --dir).
func (s *Sim) dirOrNominal() string {
	if s.dir != "" {
		return s.dir
	}
	return "sim"
}

func describeElect(c *elect.Config) string {
	if c == nil {
		return "elections off"
	}
	return fmt.Sprintf("votewait=%d election=%d full=%d retry=%d heartbeat=%d leases=%t lease=%d skew=%d",
		c.VoteWaitTicks, c.ElectionTicks, c.FullElectionTicks, c.RetryTicks, c.HeartbeatTicks, c.Leases, c.LeaseTicks, c.ClockSkew)
}
