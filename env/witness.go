package env

// The witness site, and what data sites do about it.
//
// A witness (repnode --witness; package elect, "Witness and status
// agent") keeps no data: no log, no bbolt, only its election state in
// elect.db. StartWitness runs one goroutine that owns an elect.Node
// (Config.Witness, priority 0), reads the transport and ticks, and
// carries out the node's Ready in its contract order through the same
// code as a data site's driver (carryOutElect in elect.go).
//
// A witness hears no rep traffic, so it cannot use rep's heartbeat
// monitor to notice that the master died. It takes the master's lost
// connection instead: the transport reports it (its own heartbeats
// notice a silent peer), and the witness then joins the election the
// surviving data sites hold. A live master answers with MASTER, so a
// spurious disconnect costs one message.
//
// Data sites learn which peer is a witness from Site.Witness. The driver
// leaves witnesses out of rep's sites (rep never ships log to them nor
// counts them for acks) and gives them to elect; connection events and
// rep messages from a witness never reach rep. In a group of two data
// sites and one witness the master tells elect whether it is mirrored:
// the other data site is connected and has acknowledged the master's
// whole log (once; it stays mirrored until the connection drops). Not
// mirrored, the master needs the witness's grant to write.

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"logship/elect"
	"logship/rep"
	"logship/rep/transport"
)

// dataSites returns sites without the witnesses: rep's sites.
func dataSites(sites []Site) []Site {
	var out []Site
	for _, s := range sites {
		if !s.Witness {
			out = append(out, s)
		}
	}
	return out
}

// witnessView is a data site's view of the group's witnesses. Driver
// goroutine only.
type witnessView struct {
	ids []SiteID        // configured witnesses, in Sites order
	up  map[SiteID]bool // their connections, as the transport reports them
	// agent: two data sites and one witness, so elect must be told
	// whether the master is mirrored; other is the other data site.
	agent       bool
	other       SiteID
	mirrored    bool
	mirroredGen uint64 // generation mirrored was established in
}

func newWitnessView(sites []Site) witnessView {
	w := witnessView{up: map[SiteID]bool{}}
	var data []SiteID
	for _, s := range sites {
		if s.Witness {
			w.ids = append(w.ids, s.ID)
		} else {
			data = append(data, s.ID)
		}
	}
	if len(w.ids) == 1 && len(data) == 1 {
		w.agent, w.other = true, data[0]
	}
	return w
}

func (w *witnessView) is(id SiteID) bool { return slices.Contains(w.ids, id) }

// fromWitness takes what a witness sends this data site: its connection
// events and its election messages (which go to elect); a rep message is
// dropped quietly, since rep does not know the site. It reports whether
// tm was the witness's.
func (d *driver) fromWitness(tm transport.Message) bool {
	el := d.el
	id := SiteID(tm.From)
	if el == nil || !el.wit.is(id) {
		return false
	}
	switch tm.Kind {
	case transport.KindConnUp:
		el.wit.up[id] = true
	case transport.KindConnDown:
		el.wit.up[id] = false
	case transport.KindMessage:
		if len(tm.Body) == 0 || tm.Body[0] != envelopeRep && tm.Body[0] != envelopeElect {
			return false // malformed: counted as any other
		}
		if tm.Body[0] == envelopeElect {
			d.receiveElect(tm.From, tm.Body[1:])
			return true
		}
		d.log.Debug("rep: ignored a rep message from the witness", "from", uint64(id))
	}
	return true
}

// witnessSites appends the witnesses to a status's site list.
func (d *driver) witnessSites(sites []RepSite) []RepSite {
	if d.el == nil {
		return sites
	}
	for _, id := range d.el.wit.ids {
		sites = append(sites, RepSite{ID: id, Witness: true, Connected: d.el.wit.up[id]})
	}
	return sites
}

// noteMirrored tells a master of a two-data-site group whether it is
// mirrored. Mirrored needs the other site to hold the whole log once
// (so releasing the witness's grant cannot strand a commit made while not
// mirrored), then holds while the connection does.
func (d *driver) noteMirrored() {
	w := &d.el.wit
	if !w.agent {
		return
	}
	st := d.n.Status()
	if st.Role != rep.RoleMaster {
		w.mirrored, w.mirroredGen = false, 0
		return
	}
	if st.Gen != w.mirroredGen {
		w.mirrored, w.mirroredGen = false, st.Gen
	}
	for _, s := range d.n.Sites() {
		if s.ID != w.other {
			continue
		}
		switch {
		case !s.Connected:
			w.mirrored = false
		case !w.mirrored && !s.Acked.Less(st.Last):
			w.mirrored = true
		}
	}
	d.el.n.Mirrored(w.mirrored)
}

// WitnessStatus is a witness's view of the group.
type WitnessStatus struct {
	ID SiteID
	// Master is the master the witness knows (0 if none) and Gen its
	// generation.
	Master SiteID
	Gen    uint64
	// EGen is the newest election generation the witness entered,
	// VotedFor its vote in it, Electing whether it is in one now.
	EGen     uint64
	VotedFor SiteID
	Electing bool
	// Holder is the data site holding the status-agent grant (0: none).
	Holder SiteID
	// Peers are the sites connected now, ascending.
	Peers []SiteID
	// RepDropped counts rep messages received and dropped (a witness
	// keeps no log); BadMessages bodies it could not decode or that elect
	// rejected; SendErrors messages the transport refused.
	RepDropped, BadMessages, SendErrors uint64
	// Err is set once the election store failed: the witness then sends
	// nothing more. Close it and restart.
	Err error
}

// Witness is a running witness site; StartWitness creates it.
type Witness struct {
	cfg   ReplicationConfig
	tr    transport.Transport
	n     *elect.Node
	store *electStore
	log   *slog.Logger

	stop chan struct{}
	done chan struct{}
	once sync.Once

	// Driver goroutine only.
	peers  map[SiteID]bool
	broken error

	repDropped, badMsgs, sendErrs, dropped atomic.Uint64

	mu     sync.Mutex
	status WitnessStatus
}

// StartWitness starts a witness site whose election state lives in dir
// (dir/elect.db, created if missing). cfg gives the transport, this
// site's ID, the other sites (the data sites, and any other witness with
// Site.Witness), TickInterval and the election and lease settings, which
// must match the data sites'; WitnessGrantAfterExpiry chooses what the
// status agent does when the grant's holder is gone. Priority must be 0
// and the rep settings are ignored. Close stops it; the transport stays
// the caller's.
func StartWitness(dir string, cfg ReplicationConfig) (*Witness, error) {
	switch {
	case cfg.Transport == nil:
		return nil, fmt.Errorf("%w: Transport must be set", rep.ErrBadConfig)
	case cfg.TickInterval <= 0:
		return nil, fmt.Errorf("%w: TickInterval (%v) must be > 0", rep.ErrBadConfig, cfg.TickInterval)
	case cfg.Priority != 0:
		return nil, fmt.Errorf("%w: Priority (%d) must be 0 on a witness, which never becomes master", rep.ErrBadConfig, cfg.Priority)
	}
	cfg.witness, cfg.Elect = true, true
	if err := cfg.checkElectOptions(); err != nil {
		return nil, err
	}
	ec, err := cfg.electConfig(cfg.heartbeatTicks())
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("env: witness directory: %w", err)
	}
	st, err := openElectStore(filepath.Join(dir, electStoreFile))
	if err != nil {
		return nil, err
	}
	hs, err := st.Load()
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	n, err := elect.New(ec, hs)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	w := &Witness{
		cfg: cfg, tr: cfg.Transport, n: n, store: st, log: cfg.Logger,
		stop: make(chan struct{}), done: make(chan struct{}), peers: map[SiteID]bool{},
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	w.log = w.log.With("site", uint64(cfg.ID), "witness", true)
	w.log.Info("elect: witness starting", "egen", hs.EGen, "voted_for", uint64(hs.VotedFor), "holder", uint64(hs.Holder))
	w.publish()
	go w.run()
	return w, nil
}

// heartbeatTicks is rep's heartbeat interval in ticks as a data site of
// the same config computes it (repConfig), which elect's lease and grant
// refresh use; the witness has no rep to ask.
func (c ReplicationConfig) heartbeatTicks() int {
	hb := c.HeartbeatInterval
	if hb <= 0 {
		hb = electHeartbeat
	}
	return max(1, int((hb+c.TickInterval-1)/c.TickInterval))
}

// Close stops the witness and closes its election store. The transport
// is the caller's.
func (w *Witness) Close() error {
	err := ErrClosed
	w.once.Do(func() {
		close(w.stop)
		<-w.done
		err = nil
		if cerr := w.store.Close(); cerr != nil {
			err = fmt.Errorf("env: witness: close election store: %w", cerr)
		}
	})
	return err
}

// Status returns the witness's view of the group.
func (w *Witness) Status() WitnessStatus {
	w.mu.Lock()
	st := w.status
	w.mu.Unlock()
	st.Peers = slices.Clone(st.Peers)
	st.RepDropped, st.BadMessages, st.SendErrors = w.repDropped.Load(), w.badMsgs.Load(), w.sendErrs.Load()
	return st
}

func (w *Witness) run() {
	defer close(w.done)
	tick := time.NewTicker(w.cfg.TickInterval)
	defer tick.Stop()
	recv := w.tr.Recv()
	w.n.Start()
	w.process()
	for {
		select {
		case <-w.stop:
			return
		case m, ok := <-recv:
			if !ok {
				recv = nil
				continue
			}
			w.receive(m)
		case <-tick.C:
			w.n.Tick()
		}
		w.process()
	}
}

// receive takes one transport message.
func (w *Witness) receive(tm transport.Message) {
	id := SiteID(tm.From)
	switch tm.Kind {
	case transport.KindConnUp:
		w.peers[id] = true
	case transport.KindConnDown:
		w.peers[id] = false
		// The witness's only sign of a dead master (see the file comment).
		if st := w.n.Status(); st.Role == elect.RoleClient && SiteID(st.Master) == id {
			w.log.Info("elect: lost the connection to the master", "master", uint64(id), "gen", st.Gen)
			w.n.MasterLost()
		}
	case transport.KindMessage:
		switch {
		case len(tm.Body) > 0 && tm.Body[0] == envelopeElect:
			m, err := decodeElect(tm.From, tm.Body[1:])
			if err == nil {
				err = w.n.Step(m)
			}
			if err != nil {
				w.badMsgs.Add(1)
				w.log.Warn("elect: dropped a message", "from", uint64(id), "err", err)
			}
		case len(tm.Body) > 0 && tm.Body[0] == envelopeRep:
			w.repDropped.Add(1)
			w.log.Debug("rep: a witness keeps no log; dropped a rep message", "from", uint64(id))
		default:
			w.badMsgs.Add(1)
			w.log.Warn("elect: dropped a message with no envelope byte", "from", uint64(id), "bytes", len(tm.Body))
		}
	}
}

// process carries out the node's Ready and publishes the status.
func (w *Witness) process() {
	if w.broken == nil {
		_, err := carryOutElect(w.n, w.store, w.log, w.role, w.send, w.event)
		if err != nil {
			w.broken = fmt.Errorf("env: witness: %w", err)
			w.log.Error("elect: persisting election state failed; the witness stops taking part in elections", "err", err)
		}
	}
	w.publish()
}

func (w *Witness) role(rd elect.RoleDecision) {
	w.log.Debug("elect: role", "role", rd.Role.String(), "master", uint64(rd.Master), "gen", rd.Gen)
}

func (w *Witness) send(to SiteID, env byte, body []byte) {
	if err := sendEnvelope(w.tr, to, env, body); err != nil {
		w.sendErrs.Add(1)
	}
}

func (w *Witness) event(ev elect.Event) { publishElectEvent(w.log, w.cfg, &w.dropped, ev) }

func (w *Witness) publish() {
	es := w.n.Status()
	st := WitnessStatus{
		ID: w.cfg.ID, Master: SiteID(es.Master), Gen: es.Gen, EGen: es.EGen, VotedFor: SiteID(es.VotedFor),
		Electing: es.Electing, Holder: SiteID(es.Holder), Err: w.broken,
	}
	for id, up := range w.peers {
		if up {
			st.Peers = append(st.Peers, id)
		}
	}
	slices.Sort(st.Peers)
	w.mu.Lock()
	w.status = st
	w.mu.Unlock()
}
