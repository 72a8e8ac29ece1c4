package elect

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"logship/wal/lsn"
)

// The harness runs a group of nodes over a message queue it delivers
// deterministically, carrying out every Ready the way the env driver
// will (persist State, then Role, then send). It also plays rep's part:
// masters' heartbeats reach connected clients as MasterSeen, and a client
// that misses them for monitorTicks gets MasterLost. Tests read like
// scripts:
//
//	h := newHarness(t, 3)
//	h.startAll(); h.tickUntilMaster(200)
//	h.crash(m); h.tickUntil(func() bool { ... }, 200)

type hnode struct {
	id      SiteID
	cfg     Config
	n       *Node
	up      bool
	hs      HardState // what the stable store holds
	role    RoleDecision
	events  []Event
	heard   uint64 // harness tick a heartbeat from the master last arrived
	lastGen uint64
	lastLSN lsn.LSN
	// skipEvery > 0: this site's clock runs slow, missing one tick in
	// skipEvery (clock skew within Config.ClockSkew).
	skipEvery uint64
}

type delayed struct {
	at uint64
	m  Message
}

type harness struct {
	t     testing.TB
	rng   *rand.Rand
	nodes map[SiteID]*hnode
	ids   []SiteID
	now   uint64
	queue []delayed
	// faults
	loss     float64 // probability a message is lost
	maxDelay int     // messages are delivered 0..maxDelay ticks late
	cut      map[[2]SiteID]bool
	// rep's heartbeat monitor
	heartbeats   bool
	monitorTicks uint64
	masters      map[uint64]SiteID // gen -> the site that was master of it
	handMasters  bool              // masters set by hand: skip the one-master-per-gen check
	wire         bool              // round-trip every message through Marshal/Unmarshal
}

type hopt func(id SiteID, c *Config)

// newHarness creates sites 1..size with priority 1, leases off and
// DefaultConfig timeouts; opts adjust every site's config.
func newHarness(t testing.TB, size int, opts ...hopt) *harness {
	return newHarnessSeed(t, 1, size, opts...)
}

func newHarnessSeed(t testing.TB, seed uint64, size int, opts ...hopt) *harness {
	t.Helper()
	h := &harness{t: t, rng: rand.New(rand.NewPCG(seed, 99)), nodes: map[SiteID]*hnode{},
		cut: map[[2]SiteID]bool{}, heartbeats: true, wire: true, masters: map[uint64]SiteID{}}
	for i := 1; i <= size; i++ {
		h.ids = append(h.ids, SiteID(i))
	}
	for _, id := range h.ids {
		cfg := DefaultConfig()
		cfg.ID, cfg.Priority = id, 1
		cfg.Rand = rand.New(rand.NewPCG(seed, uint64(id)))
		for _, o := range h.ids {
			if o != id {
				cfg.Sites = append(cfg.Sites, Site{ID: o})
			}
		}
		for _, o := range opts {
			o(id, &cfg)
		}
		h.nodes[id] = &hnode{id: id, cfg: cfg}
	}
	// Fix up the site lists from the final configs (witness).
	for _, hn := range h.nodes {
		for i, s := range hn.cfg.Sites {
			hn.cfg.Sites[i].Witness = h.nodes[s.ID].cfg.Witness
		}
	}
	h.monitorTicks = 3 * uint64(h.nodes[1].cfg.HeartbeatTicks)
	for _, id := range h.ids {
		h.boot(id)
	}
	return h
}

// withWitness makes site w the witness.
func withWitness(w SiteID) hopt {
	return func(id SiteID, c *Config) {
		if id == w {
			c.Witness, c.Priority = true, 0
		}
	}
}

func withPriority(site SiteID, p uint32) hopt {
	return func(id SiteID, c *Config) {
		if id == site {
			c.Priority = p
		}
	}
}

func tight(_ SiteID, c *Config) {
	r := c.Rand
	*c = func(k Config) Config {
		t := TightConfig()
		t.ID, t.Sites, t.Priority, t.Witness, t.Leases = k.ID, k.Sites, k.Priority, k.Witness, k.Leases
		return t
	}(*c)
	c.Rand = r
}

func leases(_ SiteID, c *Config) { c.Leases = true }

func (h *harness) node(id SiteID) *hnode { return h.nodes[id] }

// boot (re)creates id's node from its persisted state.
func (h *harness) boot(id SiteID) {
	h.t.Helper()
	hn := h.nodes[id]
	n, err := New(hn.cfg, hn.hs)
	if err != nil {
		h.t.Fatal(err)
	}
	n.UpdateLastRecord(hn.lastGen, hn.lastLSN)
	hn.n, hn.up, hn.role, hn.heard = n, true, RoleDecision{}, h.now
}

func (h *harness) start(ids ...SiteID) {
	for _, id := range ids {
		h.nodes[id].n.Start()
		h.process(id)
	}
}

func (h *harness) startAll() { h.start(h.ids...) }

// setLast sets a site's last log record (gen, file/offset).
func (h *harness) setLast(id SiteID, gen uint64, file, off uint32) {
	hn := h.nodes[id]
	hn.lastGen, hn.lastLSN = gen, lsn.New(file, off)
	hn.n.UpdateLastRecord(hn.lastGen, hn.lastLSN)
}

// process carries out id's Ready like the env driver.
func (h *harness) process(id SiteID) {
	hn := h.nodes[id]
	if !hn.up {
		return
	}
	rd := hn.n.Ready()
	if rd.Empty() {
		return
	}
	if rd.State != nil {
		hn.hs = *rd.State // durable before anything is sent
	}
	if rd.Role != nil {
		hn.role = *rd.Role
		if rd.Role.Role == RoleMaster {
			if prev, ok := h.masters[rd.Role.Gen]; ok && prev != id && !h.handMasters {
				h.t.Fatalf("tick %d: sites %d and %d both master of gen %d", h.now, prev, id, rd.Role.Gen)
			}
			h.masters[rd.Role.Gen] = id
		}
		if rd.Role.Role == RoleClient {
			hn.heard = h.now
		}
	}
	for _, m := range rd.Messages {
		if h.wire {
			b, err := Marshal(m)
			if err != nil {
				h.t.Fatalf("marshal %v: %v", m, err)
			}
			if m, err = Unmarshal(b); err != nil {
				h.t.Fatalf("unmarshal %v: %v", m, err)
			}
		}
		h.enqueue(m)
	}
	hn.events = append(hn.events, rd.Events...)
	hn.n.Advance(rd)
}

func (h *harness) enqueue(m Message) {
	if h.cut[[2]SiteID{m.From, m.To}] || h.loss > 0 && h.rng.Float64() < h.loss {
		return
	}
	at := h.now
	if h.maxDelay > 0 {
		at += uint64(h.rng.IntN(h.maxDelay + 1))
	}
	h.queue = append(h.queue, delayed{at, m})
}

// deliver steps every queued message that is due, until none is left.
func (h *harness) deliver() {
	for {
		var due, later []delayed
		for _, d := range h.queue {
			if d.at <= h.now {
				due = append(due, d)
			} else {
				later = append(later, d)
			}
		}
		if len(due) == 0 {
			return
		}
		h.queue = later
		for _, d := range due {
			to := h.nodes[d.m.To]
			if !to.up {
				continue
			}
			if err := to.n.Step(d.m); err != nil {
				h.t.Fatal(err)
			}
			h.process(d.m.To)
		}
	}
}

// tick advances every live site one tick, plays rep's heartbeats and
// monitor, and delivers what is due.
func (h *harness) tick() {
	h.now++
	for _, id := range h.ids {
		hn := h.nodes[id]
		if !hn.up || hn.skipEvery > 0 && h.now%hn.skipEvery == 0 {
			continue
		}
		hn.n.Tick()
		h.process(id)
	}
	if h.heartbeats {
		h.rep()
	}
	h.deliver()
}

// rep models rep's heartbeats (every HeartbeatTicks a master's NEWMASTER
// or HEARTBEAT reaches each connected site as MasterSeen) and its
// heartbeat monitor (MasterLost after monitorTicks of silence).
func (h *harness) rep() {
	for _, id := range h.ids {
		m := h.nodes[id]
		if !m.up || m.role.Role != RoleMaster || h.now%uint64(m.cfg.HeartbeatTicks) != 0 {
			continue
		}
		for _, o := range h.ids {
			c := h.nodes[o]
			if o == id || !c.up || h.cut[[2]SiteID{id, o}] {
				continue
			}
			if c.role.Master == id && c.role.Gen == m.role.Gen {
				c.heard = h.now
			}
			c.n.MasterSeen(id, m.role.Gen)
			h.process(o)
		}
	}
	for _, id := range h.ids {
		c := h.nodes[id]
		if c.up && c.role.Role == RoleClient && h.now-c.heard > h.monitorTicks {
			c.n.MasterLost()
			h.process(id)
		}
	}
}

func (h *harness) ticks(k int) {
	for range k {
		h.tick()
	}
}

// tickUntil ticks until cond holds, failing after max ticks.
func (h *harness) tickUntil(what string, max int, cond func() bool) {
	h.t.Helper()
	for range max {
		if cond() {
			return
		}
		h.tick()
	}
	if !cond() {
		h.t.Fatalf("tick %d: %s not reached in %d ticks\n%s", h.now, what, max, h.dump())
	}
}

// master returns the live site that holds the master role, or 0.
func (h *harness) master() SiteID {
	for _, id := range h.ids {
		if hn := h.nodes[id]; hn.up && hn.n.Status().Role == RoleMaster {
			return id
		}
	}
	return 0
}

// tickUntilMaster ticks until some live site is master and every other
// live site follows it.
func (h *harness) tickUntilMaster(max int) SiteID {
	h.t.Helper()
	h.tickUntil("a master followed by every live site", max, func() bool {
		m := h.master()
		if m == 0 {
			return false
		}
		for _, id := range h.ids {
			st := h.nodes[id].n.Status()
			if h.nodes[id].up && id != m && (st.Role != RoleClient || st.Master != m) {
				return false
			}
		}
		return true
	})
	return h.master()
}

func (h *harness) crash(id SiteID) {
	h.nodes[id].up = false
	h.queue = slices.DeleteFunc(h.queue, func(d delayed) bool { return d.m.To == id || d.m.From == id })
}

func (h *harness) restart(id SiteID) { h.boot(id); h.start(id) }

// partition cuts both directions between a and b.
func (h *harness) partition(a, b SiteID, cut bool) {
	if cut {
		h.cut[[2]SiteID{a, b}], h.cut[[2]SiteID{b, a}] = true, true
	} else {
		delete(h.cut, [2]SiteID{a, b})
		delete(h.cut, [2]SiteID{b, a})
	}
}

// isolate cuts id from every other site.
func (h *harness) isolate(id SiteID, cut bool) {
	for _, o := range h.ids {
		if o != id {
			h.partition(id, o, cut)
		}
	}
}

func (h *harness) hasEvent(id SiteID, t EventType) bool {
	return slices.ContainsFunc(h.nodes[id].events, func(e Event) bool { return e.Type == t })
}

func (h *harness) dump() string {
	s := ""
	for _, id := range h.ids {
		hn := h.nodes[id]
		st := hn.n.Status()
		s += fmt.Sprintf("  site %d up=%t role=%s master=%d gen=%d egen=%d voted=%d electing=%t writeErr=%v\n",
			id, hn.up, st.Role, st.Master, st.Gen, st.EGen, st.VotedFor, st.Electing, st.WriteErr)
	}
	return s
}
