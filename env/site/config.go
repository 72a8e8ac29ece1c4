package site

import (
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"time"

	"logship/elect"
	"logship/env"
	"logship/internal/sitecore"
	"logship/rep"
	"logship/rep/transport"
)

// Config configures a replication site. Start from DefaultConfig, set
// Transport, ID and Sites; zero durations mean the defaults documented
// on each field.
type Config struct {
	// Transport carries the messages; the caller owns it (Close does not
	// close it).
	Transport transport.Transport
	// ID is this site's id; Priority 0 = never master (Berkeley DB
	// rep_set_priority); Sites are the other members of the group, each
	// with whether it is a witness. How the others count a site for acks
	// and elections each site says itself (rep.Electability).
	ID       SiteID
	Priority uint32
	Sites    []Member

	// AckPolicy decides when a commit is permanent (default quorum).
	AckPolicy AckPolicy
	// Peer: client-to-client sync source (0 = none).
	Peer SiteID
	// DelayClient: do not sync with a new master until Sync.
	DelayClient bool
	// NoWait: operations on a synchronising client fail with ErrLockout
	// instead of waiting.
	NoWait bool
	// NoAutoInit: a client too far behind fails with ErrJoinFailure
	// instead of internal init.
	NoAutoInit bool
	// MaxRollbackBytes: a client that would discard more of its own log
	// than this (a rollback to the sync point, or an internal init's
	// discard) stops in rollback_refused until AllowRollback
	// (rep.Config.MaxRollbackBytes; 0 = no limit).
	MaxRollbackBytes int64

	Timing   Timing
	Election Election
	Leases   Leases
	Throttle Throttle
	Witness  WitnessConfig

	// Dir holds elect.db, the election state (default: the
	// environment's directory; required for a witness).
	Dir string
	// Logger for role changes, sync phases, rollbacks and inits (default:
	// slog.Default()).
	Logger *slog.Logger
	// OnEvent, if not nil, is called on the site's goroutine with every
	// replication and election event; it must not block. Events, if not
	// nil, receives every event without blocking: one that does not fit
	// is dropped and counted (Stats.EventsDropped).
	OnEvent func(Event)
	Events  chan<- Event

	// Advertise: where applications reach this site, told to every peer
	// when its connection comes up (Site.PeerAddrs on the peer). Empty:
	// nothing is sent.
	Advertise ClientAddrs

	// Join: this site is not yet a member of the group (a brand-new site
	// being added with Site.AddMember on the master). It starts with
	// Sites naming only its contact (the master, or any member, with its
	// address in Member.Addr), is not counted and never votes or stands;
	// it takes the membership from the first master that ships to it,
	// and becomes a member when it sees a membership record naming it.
	// Until then Status.MemberErr wraps ErrNotMember. Ignored once the
	// site's log holds a membership record.
	Join bool
	// PromoteLagBytes: the master promotes a joining member to voting
	// once it is connected and its acknowledged log is within this many
	// bytes of the master's newest record (default 1 MiB; AddMember).
	PromoteLagBytes int64

	witness bool // set by StartWitness on its copy
}

// Timing is the site's clock and the replication timeouts.
type Timing struct {
	// Tick is the site's clock: one rep and elect tick (default 10 ms,
	// rep.TickMillis).
	Tick time.Duration
	// Heartbeat: the master's idle keep-alive (default 1 s; 100 ms with
	// elections). HeartbeatMonitor: a client that hears nothing from its
	// master this long considers it gone (default 3 s; with elections
	// 300 ms or three heartbeats).
	Heartbeat, HeartbeatMonitor time.Duration
	// AckTimeout: how long a commit waits for the acks its policy needs
	// before it is reported not permanent (default 1 s).
	AckTimeout time.Duration
	// RequestMin and RequestMax bound the back-off before missing log is
	// asked for again (default 40 ms to 1.28 s).
	RequestMin, RequestMax time.Duration
	// FsyncStall (with elections): a master whose log fsync has been in
	// progress this long steps down, so the others elect a master that
	// can make commits durable (default 5 s; negative: never).
	FsyncStall time.Duration
}

// Election configures elections (package elect).
type Election struct {
	// On: elections choose the master. The site starts in no role and
	// takes part in an election at once; StartMaster and StartClient are
	// refused.
	On bool
	// VoteWait, Timeout, FullTimeout and Retry are elect's phase-1 wait,
	// election timeout, first-election wait for every site and retry
	// back-off (defaults 100 ms, 500 ms, 3 s, 300 ms). FullTimeout < 0:
	// no full election at start-up.
	VoteWait, Timeout, FullTimeout, Retry time.Duration
}

// Leases configures master leases (Berkeley DB DB_REP_CONF_LEASE). Every
// site of the group, the witness included, must agree.
type Leases struct {
	// On: the master writes and serves ViewLease only while a majority
	// granted it a lease, and a new master waits Timeout+ClockSkew before
	// its first write. Needs Election.On.
	On bool
	// Timeout: how long a grant lasts (default 500 ms). ClockSkew: the
	// most two sites' clocks may drift apart over it (default 20 ms).
	Timeout, ClockSkew time.Duration
}

// Throttle bounds what replication sends at once (rep.Config's fields of
// the same names; zero means rep's default).
type Throttle struct {
	// BulkBytes bounds one LOG message (default 1 MiB); NoBulk sends one
	// record per message.
	BulkBytes int
	NoBulk    bool
	// ThrottleBytes bounds one catch-up pass (default 1 MiB).
	ThrottleBytes int
	// GapBufferBytes bounds records held ahead of a gap (default 4 MiB).
	GapBufferBytes int
	// InitChunkBytes is one internal-init chunk (default 256 KiB).
	InitChunkBytes int
	// InitRetainMaxBytes bounds the log kept for one client's internal
	// init (default 1 GiB); negative: no bound.
	InitRetainMaxBytes int64
}

// WitnessConfig configures a witness site (StartWitness).
type WitnessConfig struct {
	// GrantAfterExpiry chooses availability over consistency once the
	// status-agent grant's holder is gone: see docs/operations.md,
	// "Witness".
	GrantAfterExpiry bool
}

// DefaultConfig returns the defaults; set Transport, ID and Sites.
func DefaultConfig() Config {
	return Config{AckPolicy: rep.AckQuorum, Timing: Timing{Tick: rep.TickMillis * time.Millisecond}}
}

// Election defaults for rep's failure detection with elections: the
// master heartbeats every 100 ms and a client declares it silent after
// three missed heartbeats, so with elect's defaults a group fails over in
// about a second.
const (
	electHeartbeat        = ElectionHeartbeat
	electHeartbeatMonitor = 3 * electHeartbeat
)

// ElectionHeartbeat is Timing.Heartbeat's default with elections. A
// master also refreshes its lease every heartbeat, so Leases.Timeout
// must cover two of them plus Leases.ClockSkew and a tick.
const ElectionHeartbeat = 100 * time.Millisecond

// DefaultFsyncStall is Timing.FsyncStall's default.
const DefaultFsyncStall = 5 * time.Second

// defaultLeaseTimeout is Leases.Timeout's default.
const defaultLeaseTimeout = 500 * time.Millisecond

// Validate reports every bad field, naming it; it never mutates c.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{rep.ErrBadConfig}, args...)...))
	}
	if c.Transport == nil {
		bad("Transport must be set")
	}
	if c.Timing.Tick <= 0 {
		bad("Timing.Tick (%v) must be > 0", c.Timing.Tick)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"Timing.Heartbeat", c.Timing.Heartbeat}, {"Timing.HeartbeatMonitor", c.Timing.HeartbeatMonitor},
		{"Timing.AckTimeout", c.Timing.AckTimeout}, {"Timing.RequestMin", c.Timing.RequestMin},
		{"Timing.RequestMax", c.Timing.RequestMax}, {"Election.VoteWait", c.Election.VoteWait},
		{"Election.Timeout", c.Election.Timeout}, {"Election.Retry", c.Election.Retry},
		{"Leases.Timeout", c.Leases.Timeout}, {"Leases.ClockSkew", c.Leases.ClockSkew},
	} {
		if d.v < 0 {
			bad("%s (%v) must be >= 0 (0 = the default)", d.name, d.v)
		}
	}
	if t := c.Timing.FsyncStall; t > 0 && t < c.Timing.Tick {
		bad("Timing.FsyncStall (%v) must be at least Timing.Tick (%v), 0 (default %v) or negative (off)", t, c.Timing.Tick, DefaultFsyncStall)
	}
	if err := c.Advertise.validate(); err != nil {
		bad("%v", err)
	}
	if c.Witness.GrantAfterExpiry && !c.witness {
		bad("Witness.GrantAfterExpiry is a witness setting (StartWitness); this site keeps data")
	}
	if c.Join && len(c.Sites) == 0 {
		bad("Join needs Sites to name the contact (the master) the joining site follows")
	}
	if c.PromoteLagBytes < 0 {
		bad("PromoteLagBytes (%d) must be >= 0 (0 = the default)", c.PromoteLagBytes)
	}
	if c.Leases.On && !c.Election.On {
		bad("Leases.On needs Election.On: lease grants are part of the election protocol")
	}
	if c.Leases.ClockSkew > 0 && c.Leases.ClockSkew >= c.leaseTimeout() {
		bad("Leases.ClockSkew (%v) must be less than Leases.Timeout (%v)", c.Leases.ClockSkew, c.leaseTimeout())
	}
	for i, s := range c.Sites {
		if !s.Witness {
			continue
		}
		if !c.Election.On {
			bad("Sites[%d] (%d) is a witness: a witness needs Election.On", i, s.ID)
		}
		if s.ID == c.Peer {
			bad("Peer (%d) is a witness, which keeps no log to sync from", c.Peer)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// What the protocol cores check, named in their terms (ticks).
	_, err := c.CoreConfig(rep.NewMemLog(1<<10), elect.HardState{}, fixedRand{})
	return err
}

// ForWitness returns c as StartWitness runs it: a witness's
// configuration (elections on, priority 0, no log), whose CoreConfig
// builds an elect-only core. The simulator builds its witnesses so.
func (c Config) ForWitness() Config {
	c.witness, c.Election.On, c.Priority = true, true, 0
	return c
}

// ackTimeout is Timing.AckTimeout, or its default.
func (c Config) ackTimeout() time.Duration {
	return time.Duration(c.ticks(rep.DefaultConfig().AckTimeoutTicks, c.Timing.AckTimeout)) * c.Timing.Tick
}

func (c Config) leaseTimeout() time.Duration {
	if c.Leases.Timeout > 0 {
		return c.Leases.Timeout
	}
	return defaultLeaseTimeout
}

// fixedRand is a Rand for Validate's trial build.
type fixedRand struct{}

func (fixedRand) Uint64() uint64 { return 0 }

// ticks converts a duration to ticks of c.Timing.Tick, rounding up; zero
// gives def, a count of ticks of the cores' nominal TickMillis, scaled.
func (c Config) ticks(def int, d time.Duration) int {
	tick := c.Timing.Tick
	if d > 0 {
		return max(1, int((d+tick-1)/tick))
	}
	if def == 0 {
		return 0
	}
	return max(1, int(time.Duration(def)*rep.TickMillis*time.Millisecond/tick))
}

// CoreConfig builds the protocol cores' configuration from c: rep's over
// log (the data sites; nil for a witness), elect's with the persisted
// election state hs and the randomness rnd (its tiebreaks and back-off).
// The runtime calls it, and so does the simulator, so the simulator runs
// what a daemon configured by flags runs.
func (c Config) CoreConfig(log rep.LogReader, hs elect.HardState, rnd elect.Rand) (sitecore.Config, error) {
	if c.Timing.Tick <= 0 {
		return sitecore.Config{}, fmt.Errorf("%w: Timing.Tick (%v) must be > 0", rep.ErrBadConfig, c.Timing.Tick)
	}
	cc := sitecore.Config{State: hs}
	var errs []error
	heartbeat, monitor := c.Timing.Heartbeat, c.Timing.HeartbeatMonitor
	if c.Election.On {
		if heartbeat == 0 {
			heartbeat = electHeartbeat
		}
		if monitor == 0 {
			monitor = max(electHeartbeatMonitor, 3*heartbeat)
		}
	}
	rc := rep.DefaultConfig()
	if !c.witness {
		rc.ID, rc.Priority, rc.Sites, rc.Log = c.ID, c.Priority, dataSites(c.Sites), log
		rc.StartDisconnected = true // the transport reports each connection
		rc.AckPolicy, rc.Peer, rc.DelayClient, rc.NoWait, rc.NoAutoInit = c.AckPolicy, c.Peer, c.DelayClient, c.NoWait, c.NoAutoInit
		rc.MaxRollbackBytes = c.MaxRollbackBytes
		rc.AckTimeoutTicks = c.ticks(rc.AckTimeoutTicks, c.Timing.AckTimeout)
		rc.HeartbeatTicks = c.ticks(rc.HeartbeatTicks, heartbeat)
		rc.HeartbeatMonitorTicks = c.ticks(rc.HeartbeatMonitorTicks, monitor)
		rc.RequestMinTicks = c.ticks(rc.RequestMinTicks, c.Timing.RequestMin)
		rc.RequestMaxTicks = c.ticks(rc.RequestMaxTicks, c.Timing.RequestMax)
		t := c.Throttle
		rc.Bulk = !t.NoBulk
		setInt(&rc.BulkBytes, t.BulkBytes)
		setInt(&rc.ThrottleBytes, t.ThrottleBytes)
		setInt(&rc.GapBufferBytes, t.GapBufferBytes)
		setInt(&rc.InitChunkBytes, t.InitChunkBytes)
		switch {
		case t.InitRetainMaxBytes < 0:
			rc.InitRetainMaxBytes = 0
		case t.InitRetainMaxBytes > 0:
			rc.InitRetainMaxBytes = t.InitRetainMaxBytes
		}
		if r, ok := log.(*env.Replica); ok {
			if p, ok := r.PartialInit(); ok {
				rc.Resume = &p // an init cut short by a restart goes on
			}
			rc.Shared = r.Shared() // kept by publish (site.go)
		}
		if err := rc.Validate(); err != nil {
			errs = append(errs, err)
		}
		cc.Rep = &rc
	}
	if c.Election.On || c.witness {
		ec := elect.DefaultConfig()
		scale := func(def int, d time.Duration) int { return c.ticks(def, d) }
		ec.ID, ec.Priority = elect.SiteID(c.ID), c.Priority
		for _, s := range c.Sites {
			ec.Sites = append(ec.Sites, elect.Site{ID: elect.SiteID(s.ID), Witness: s.Witness})
		}
		ec.VoteWaitTicks = scale(ec.VoteWaitTicks, c.Election.VoteWait)
		ec.ElectionTicks = scale(ec.ElectionTicks, c.Election.Timeout)
		if c.Election.FullTimeout < 0 {
			ec.FullElectionTicks = 0
		} else {
			ec.FullElectionTicks = scale(ec.FullElectionTicks, c.Election.FullTimeout)
		}
		ec.RetryTicks = scale(ec.RetryTicks, c.Election.Retry)
		// elect's lease and grant refresh is rep's heartbeat.
		ec.HeartbeatTicks = c.ticks(rep.DefaultConfig().HeartbeatTicks, heartbeat)
		ec.Leases = c.Leases.On
		ec.LeaseTicks = c.ticks(0, c.leaseTimeout())
		if c.Leases.ClockSkew > 0 {
			ec.ClockSkew = c.ticks(0, c.Leases.ClockSkew)
		} else {
			ec.ClockSkew = c.ticks(ec.ClockSkew, 0)
		}
		if c.witness {
			ec.Witness, ec.Priority, ec.GrantAfterExpiry = true, 0, c.Witness.GrantAfterExpiry
		}
		ec.Rand = rnd
		if err := ec.Validate(); err != nil {
			errs = append(errs, err)
		}
		cc.Elect = &ec
	}
	if len(errs) > 0 {
		return sitecore.Config{}, errors.Join(errs...)
	}
	return cc, cc.Validate()
}

func setInt(dst *int, v int) {
	if v > 0 {
		*dst = v
	}
}

// dataSites returns sites without the witnesses: rep's sites (rep never
// ships log to a witness nor counts it for acks).
func dataSites(sites []Member) []rep.Site {
	var out []rep.Site
	for _, s := range sites {
		if !s.Witness {
			out = append(out, rep.Site{ID: s.ID})
		}
	}
	return out
}

// timeRand is the runtime's source of election randomness.
func timeRand(id SiteID) elect.Rand {
	return mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), uint64(id)))
}
