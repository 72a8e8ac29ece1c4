package sitecore

import (
	"errors"
	"math/rand/v2"
	"testing"

	"logship/elect"
	"logship/rep"
	"logship/wal/lsn"
)

// hsite is one core over an in-memory log, carried out the way the
// runtime carries it out, minus the disk and the clock.
type hsite struct {
	id       rep.SiteID
	c        *Core
	log      *rep.MemLog
	state    elect.HardState
	admitted bool
	gen      uint64
	results  map[lsn.LSN]bool
	events   []elect.Event
	down     bool
}

type wire struct {
	from, to rep.SiteID
	body     []byte
}

// harness is a group of cores exchanging messages in memory.
type harness struct {
	t     *testing.T
	sites map[rep.SiteID]*hsite
	ids   []rep.SiteID
	queue []wire
	cut   map[[2]rep.SiteID]bool
	cfg   map[rep.SiteID]Config
}

// newHarness makes sites 1..n (witnesses as listed) with elections;
// opts adjust each site's configs.
func newHarness(t *testing.T, n int, witnesses []rep.SiteID, opts ...func(id rep.SiteID, rc *rep.Config, ec *elect.Config)) *harness {
	t.Helper()
	h := &harness{t: t, sites: map[rep.SiteID]*hsite{}, cut: map[[2]rep.SiteID]bool{}, cfg: map[rep.SiteID]Config{}}
	isWit := func(id rep.SiteID) bool {
		for _, w := range witnesses {
			if w == id {
				return true
			}
		}
		return false
	}
	for i := 1; i <= n; i++ {
		h.ids = append(h.ids, rep.SiteID(i))
	}
	for _, id := range h.ids {
		ec := elect.DefaultConfig()
		ec.ID, ec.Priority, ec.Witness = elect.SiteID(id), 1, isWit(id)
		if ec.Witness {
			ec.Priority = 0
		}
		ec.FullElectionTicks = 0
		ec.Rand = rand.New(rand.NewPCG(1, uint64(id)))
		var rc *rep.Config
		log := rep.NewMemLog(1 << 16)
		if !isWit(id) {
			c := rep.DefaultConfig()
			c.ID, c.Priority, c.Log = id, 1, log
			c.HeartbeatTicks, c.HeartbeatMonitorTicks, c.AckTimeoutTicks = 10, 30, 50
			rc = &c
		}
		for _, o := range h.ids {
			if o == id {
				continue
			}
			ec.Sites = append(ec.Sites, elect.Site{ID: elect.SiteID(o), Witness: isWit(o)})
			if rc != nil && !isWit(o) {
				rc.Sites = append(rc.Sites, rep.Site{ID: o})
			}
		}
		for _, o := range opts {
			o(id, rc, &ec)
		}
		h.cfg[id] = Config{Rep: rc, Elect: &ec}
		h.sites[id] = &hsite{id: id, log: log, results: map[lsn.LSN]bool{}, down: true}
	}
	for _, id := range h.ids {
		h.boot(id)
	}
	return h
}

// boot (re)creates a site's core over its log and persisted state.
func (h *harness) boot(id rep.SiteID) {
	h.t.Helper()
	s := h.sites[id]
	cfg := h.cfg[id]
	cfg.State = s.state
	c, err := New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	s.c, s.down, s.admitted = c, false, false
	h.process(id)
}

func (h *harness) process(id rep.SiteID) {
	h.t.Helper()
	s := h.sites[id]
	for range 1000 {
		if s.down || !s.c.HasReady() {
			return
		}
		rd := s.c.Ready()
		if a := rd.Admit; a != nil {
			s.admitted, s.gen = a.Open, a.Gen
			if !a.Open {
				s.c.Advance(rd)
				s.c.Fenced(s.log.Last())
				continue
			}
		}
		if rd.Rollback != nil {
			s.log.TruncateAfter(rd.Rollback.To)
		}
		if rd.State != nil {
			s.state = *rd.State
		}
		if rb := rd.Rep.Rollback; rb != nil {
			s.log.TruncateAfter(rb.To)
		}
		for _, r := range rd.Rep.Append {
			if err := s.log.AppendAt(r); err != nil {
				h.t.Fatalf("site %d: AppendAt: %v", id, err)
			}
		}
		for _, m := range rd.Rep.Messages {
			b, err := Encode(m)
			if err != nil {
				h.t.Fatal(err)
			}
			h.send(id, m.To, b)
		}
		for _, m := range rd.ElectMessages {
			b, err := EncodeElect(m)
			if err != nil {
				h.t.Fatal(err)
			}
			h.send(id, rep.SiteID(m.To), b)
		}
		for _, r := range rd.Rep.Commits {
			s.results[r.LSN] = r.Permanent
		}
		for _, r := range rd.Rejected {
			s.results[r.LSN] = false
		}
		s.events = append(s.events, rd.ElectEvents...)
		for _, err := range rd.Errors {
			h.t.Errorf("site %d: %v", id, err)
		}
		s.c.Advance(rd)
		if len(rd.Rep.Append) > 0 {
			s.c.Persisted(s.log.Last())
		}
	}
	h.t.Fatalf("site %d: Ready never drained", id)
}

func (h *harness) send(from, to rep.SiteID, body []byte) {
	if h.cut[[2]rep.SiteID{from, to}] || h.sites[to].down {
		return
	}
	h.queue = append(h.queue, wire{from, to, body})
}

// stabilize delivers every message, and those they cause.
func (h *harness) stabilize() {
	h.t.Helper()
	for range 100000 {
		if len(h.queue) == 0 {
			return
		}
		w := h.queue[0]
		h.queue = h.queue[1:]
		s := h.sites[w.to]
		if s.down || h.cut[[2]rep.SiteID{w.from, w.to}] {
			continue
		}
		if err := s.c.Receive(w.from, w.body); err != nil {
			h.t.Fatalf("site %d: Receive from %d: %v", w.to, w.from, err)
		}
		h.process(w.to)
	}
	h.t.Fatal("messages never stopped")
}

func (h *harness) tick(k int) {
	h.t.Helper()
	for range k {
		for _, id := range h.ids {
			if s := h.sites[id]; !s.down {
				s.c.Tick()
				h.process(id)
			}
		}
		h.stabilize()
	}
}

func (h *harness) partition(a rep.SiteID, cut bool) {
	for _, o := range h.ids {
		if o != a {
			h.cut[[2]rep.SiteID{a, o}], h.cut[[2]rep.SiteID{o, a}] = cut, cut
		}
	}
}

// master returns the one site that may write, or 0.
func (h *harness) master() rep.SiteID {
	var m rep.SiteID
	for _, id := range h.ids {
		s := h.sites[id]
		if !s.down && s.c.WriteErr() == nil {
			if m != 0 {
				h.t.Fatalf("sites %d and %d both accept writes", m, id)
			}
			m = id
		}
	}
	return m
}

func (h *harness) waitMaster(ticks int) rep.SiteID {
	h.t.Helper()
	for range ticks {
		if m := h.master(); m != 0 {
			return m
		}
		h.tick(1)
	}
	h.t.Fatalf("no master after %d ticks", ticks)
	return 0
}

// commit appends a local commit on site id the way the runtime does:
// only while admitted, stamped with the admitted generation.
func (h *harness) commit(id rep.SiteID, payload string) rep.Record {
	h.t.Helper()
	s := h.sites[id]
	if !s.admitted {
		h.t.Fatalf("site %d does not admit local commits", id)
	}
	r := s.log.Append(s.gen, []byte(payload))
	r.Perm = true
	s.c.Appended([]rep.Record{r})
	s.c.Persisted(r.LSN)
	h.process(id)
	h.stabilize()
	return r
}

func TestStartShutsLocalCommitsUntilElected(t *testing.T) {
	h := newHarness(t, 3, nil)
	for _, id := range h.ids {
		if s := h.sites[id]; s.admitted {
			t.Fatalf("site %d admits local commits before any election", id)
		}
	}
	m := h.waitMaster(200)
	s := h.sites[m]
	if !s.admitted || s.gen == 0 || s.gen != s.c.Status().Rep.Gen {
		t.Fatalf("master %d: admitted %t at generation %d, rep %+v", m, s.admitted, s.gen, s.c.Status().Rep)
	}
	r := h.commit(m, "a")
	h.tick(5)
	if perm, ok := s.results[r.LSN]; !ok || !perm {
		t.Fatalf("commit %s: result %t %t", r.LSN, perm, ok)
	}
}

// A master cut off from the others is replaced; when it hears the new
// master it stops admitting local commits, reports the ones still
// waiting not permanent, and rolls back the records of commits it
// appended that rep never took (a commit racing the role change).
func TestDeposedMasterFencesAndRollsBackStrayCommits(t *testing.T) {
	h := newHarness(t, 3, nil)
	m := h.waitMaster(200)
	h.commit(m, "shared")
	h.tick(5)
	h.partition(m, true)
	pending := h.commit(m, "unreplicated")
	// A commit that got in as rep changed role: in the log, never handed
	// to rep.
	s := h.sites[m]
	stray := s.log.Append(s.gen, []byte("stray"))
	for range 300 {
		h.tick(1)
		if nm := h.otherMaster(m); nm != 0 {
			break
		}
	}
	nm := h.otherMaster(m)
	if nm == 0 {
		t.Fatal("no new master while the old one was cut off")
	}
	h.partition(m, false)
	h.tick(100)
	if s.admitted {
		t.Fatal("the deposed master still admits local commits")
	}
	if perm, ok := s.results[pending.LSN]; !ok || perm {
		t.Fatalf("the unreplicated commit: result %t %t, want not permanent", perm, ok)
	}
	if _, err := s.log.Read(stray.LSN); err == nil {
		if st := s.c.Status().Rep; st.Role != rep.RoleClient || st.Master != nm {
			t.Fatalf("old master does not follow the new one: %+v", st)
		}
		// Its record there must now be the new master's, not the stray.
		r, _ := s.log.Read(stray.LSN)
		if string(r.Payload) == "stray" {
			t.Fatal("the stray commit's record is still in the deposed master's log")
		}
	}
}

func (h *harness) otherMaster(not rep.SiteID) rep.SiteID {
	for _, id := range h.ids {
		if id != not && h.sites[id].c.WriteErr() == nil {
			return id
		}
	}
	return 0
}

// A halted master (its storage failed) stops at once: it admits no local
// commit, sends no heartbeat, and the others elect a master; it takes no
// further rep message.
func TestHaltedMasterStepsDownAndGoesSilent(t *testing.T) {
	h := newHarness(t, 3, nil)
	m := h.waitMaster(200)
	s := h.sites[m]
	s.c.Halt()
	h.process(m)
	if s.admitted || s.c.WriteErr() == nil || !errors.Is(s.c.WriteErr(), ErrHalted) {
		t.Fatalf("halted master: admitted %t, WriteErr %v", s.admitted, s.c.WriteErr())
	}
	for range 300 {
		h.tick(1)
		if h.otherMaster(m) != 0 {
			break
		}
	}
	nm := h.otherMaster(m)
	if nm == 0 {
		t.Fatal("no master elected after the old one halted")
	}
	before := s.c.RepStats().MsgsRecv
	h.commit(nm, "after")
	h.tick(20)
	if got := s.c.RepStats().MsgsRecv; got != before {
		t.Fatalf("the halted site took %d rep messages", got-before)
	}
	if err := s.c.Sync(); !errors.Is(err, ErrHalted) {
		t.Fatalf("Sync on a halted site: %v", err)
	}
}

// A witness core runs elect only: rep messages to it are dropped, and it
// votes; two data sites and the witness elect a master, and after the
// master dies the witness's vote lets the survivor take over.
func TestWitnessCoreVotesAndDropsRep(t *testing.T) {
	h := newHarness(t, 3, []rep.SiteID{3})
	m := h.waitMaster(300)
	if m == 3 {
		t.Fatal("the witness became master")
	}
	h.commit(m, "a")
	h.tick(20)
	w := h.sites[3]
	if w.c.Status().Rep.Role != rep.RoleNone || !w.c.Status().Witness {
		t.Fatalf("witness status: %+v", w.c.Status())
	}
	b, _ := Encode(rep.Message{V: rep.Version, Type: rep.MsgHeartbeat, From: m, To: 3, Gen: 1})
	if err := w.c.Receive(m, b); err != nil {
		t.Fatalf("a rep message to the witness: %v", err)
	}
	if w.c.Stats().WitnessRepDropped == 0 {
		t.Fatal("the witness did not count the dropped rep message")
	}
	h.sites[m].down = true
	h.partition(m, true)
	w.c.PeerDown(m) // the witness's sign of a dead master
	other := rep.SiteID(3 - m)
	h.sites[other].c.PeerDown(m)
	h.process(other)
	h.process(3)
	for range 400 {
		h.tick(1)
		if h.master() == other {
			return
		}
	}
	t.Fatalf("site %d not elected with the witness's vote", other)
}

// Receive rejects what is not a message of the group's protocols, and an
// election message naming another sender than its connection's.
func TestReceiveRejectsBadBodies(t *testing.T) {
	h := newHarness(t, 3, nil)
	c := h.sites[1].c
	forged, _ := EncodeElect(elect.Message{V: elect.Version, Type: elect.MsgVote1, From: 3, To: 1, EGen: 9})
	for name, body := range map[string][]byte{
		"empty": nil, "no envelope": []byte("x"), "bad rep": {EnvelopeRep, 0xc1}, "bad elect": {EnvelopeElect, 0xc1},
		"forged sender": forged,
	} {
		before := c.Stats().BadMessages
		if err := c.Receive(2, body); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if c.Stats().BadMessages != before+1 {
			t.Errorf("%s: not counted", name)
		}
	}
}

// A site that voted in election E drops the rep messages of a master
// older than E and withholds its ACKs to it.
func TestPromisedElectionFiltersOlderMaster(t *testing.T) {
	h := newHarness(t, 3, nil)
	m := h.waitMaster(200)
	other := m%3 + 1
	s := h.sites[other]
	gen := h.sites[m].c.Status().Rep.Gen
	// A newer, forced election it then votes in (a transfer's).
	vote := elect.Message{V: elect.Version, Type: elect.MsgVote1, From: elect.SiteID(m), To: elect.SiteID(other),
		EGen: gen + 5, Force: true, LastGen: gen + 5, LastLSN: lsn.New(99, 0), Priority: 1, Electability: elect.Electable}
	b, _ := EncodeElect(vote)
	if err := s.c.Receive(m, b); err != nil {
		t.Fatal(err)
	}
	h.process(other)
	if s.state.Promised <= gen {
		t.Skipf("the site did not vote in the forced election (promised %d)", s.state.Promised)
	}
	hb, _ := Encode(rep.Message{V: rep.Version, Type: rep.MsgHeartbeat, From: m, To: other, Gen: gen})
	before := s.c.Stats().PromisedDrops
	if err := s.c.Receive(m, hb); err != nil {
		t.Fatal(err)
	}
	if s.c.Stats().PromisedDrops != before+1 {
		t.Fatal("a heartbeat of a master older than the promise reached rep")
	}
}

// A restarted site tells elect the generation of its last record, read
// from its log: telling it generation 0 made it vote, right after a
// restart, for a candidate whose log lacked records of newer
// generations (found by the simulator, seed 193 of the drawn groups).
func TestRestartedCoreTellsElectItsLastRecordsGeneration(t *testing.T) {
	h := newHarness(t, 3, nil)
	m := h.waitMaster(200)
	r := h.commit(m, "a")
	h.tick(20)
	for _, id := range h.ids {
		if id == m {
			continue
		}
		h.boot(id) // restart over the same log
		es := h.sites[id].c.Status().Elect
		if es.LastLSN != r.LSN || es.LastGen != r.Gen {
			t.Fatalf("site %d restarted: elect knows its last record as gen %d at %s, want gen %d at %s",
				id, es.LastGen, es.LastLSN, r.Gen, r.LSN)
		}
	}
}

// A witness that was unreachable while a new master was elected learns
// of it when its connection comes back (found by the simulator, seed 924
// of the drawn groups: the witness followed the generation-1 master for
// good while the group was at generation 3).
func TestWitnessLearnsMasterElectedWhileItWasAway(t *testing.T) {
	h := newHarness(t, 3, []rep.SiteID{3})
	m := h.waitMaster(400)
	other := rep.SiteID(3 - m)
	h.partition(3, true) // the witness is away
	// The master hands over to the other data site: the two elect it
	// without the witness.
	if err := h.sites[m].c.Transfer(other); err != nil {
		t.Fatal(err)
	}
	h.sites[m].c.TransferCaughtUp(other)
	h.process(m)
	var nm rep.SiteID
	for range 800 {
		h.tick(1)
		if nm = h.master(); nm != 0 && h.sites[nm].c.Status().Elect.Gen > 1 {
			break
		}
	}
	gen := h.sites[nm].c.Status().Elect.Gen
	if nm == 0 || gen <= 1 {
		t.Fatalf("no newer master while the witness was away (master %d, gen %d)", nm, gen)
	}
	if g := h.sites[3].c.Status().Elect.Gen; g >= gen {
		t.Fatalf("the witness already knows generation %d", g)
	}
	h.partition(3, false)
	h.sites[nm].c.PeerUp(3)
	h.process(nm)
	h.stabilize()
	if es := h.sites[3].c.Status().Elect; es.Gen != gen || rep.SiteID(es.Master) != nm {
		t.Fatalf("witness after its connection came back: master %d gen %d, want %d gen %d", es.Master, es.Gen, nm, gen)
	}
}
