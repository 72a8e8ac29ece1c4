package site

// The witness site.
//
// A witness (repnode --witness; package elect, "Witness and status
// agent") keeps no data: no log, no bbolt, only its election state in
// elect.db. StartWitness runs one goroutine that owns a protocol core in
// witness mode (sitecore: elect only, Config.Witness, priority 0), reads
// the transport and ticks, and carries out the core's Ready: its state,
// then its messages.
//
// A witness hears no rep traffic, so it cannot use rep's heartbeat
// monitor to notice that the master died. It takes the master's lost
// connection instead: the transport reports it (its own heartbeats
// notice a silent peer), and the witness then joins the election the
// surviving data sites hold. A live master answers with MASTER, so a
// spurious disconnect costs one message.
//
// Data sites learn which peer is a witness from Site.Witness: their core
// leaves witnesses out of rep (rep never ships log to them nor counts
// them for acks) and gives them to elect. In a group of two data sites
// and one witness the master's core tells elect whether it is mirrored;
// not mirrored, the master needs the witness's grant to write.

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
	"logship/internal/sitecore"
	"logship/rep"
	"logship/rep/transport"
)

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
	cfg   Config
	tr    transport.Transport
	c     *sitecore.Core
	store *electStore
	log   *slog.Logger

	stop chan struct{}
	done chan struct{}
	once sync.Once

	// Loop goroutine only.
	peers  map[SiteID]bool
	broken error

	sendErrs, dropped atomic.Uint64

	mu     sync.Mutex
	status WitnessStatus
	addrs  addrBook // the client addresses the peers advertised (addrs.go)
}

// StartWitness starts a witness site whose election state lives in dir
// (dir/elect.db, created if missing). cfg gives the transport, this
// site's ID, the other sites (the data sites, and any other witness with
// Site.Witness), Timing.Tick and the election and lease settings, which
// must match the data sites'; Witness.GrantAfterExpiry chooses what the
// status agent does when the grant's holder is gone. Priority must be 0
// and the rep settings are ignored. Close stops it; the transport stays
// the caller's.
func StartWitness(dir string, cfg Config) (*Witness, error) {
	if cfg.Priority != 0 {
		return nil, fmt.Errorf("%w: Priority (%d) must be 0 on a witness, which never becomes master", rep.ErrBadConfig, cfg.Priority)
	}
	cfg = cfg.ForWitness()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("site: witness directory: %w", err)
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
	cc, err := cfg.CoreConfig(nil, hs, timeRand(cfg.ID))
	if err == nil {
		var c *sitecore.Core
		if c, err = sitecore.New(cc); err == nil {
			w := &Witness{
				cfg: cfg, tr: cfg.Transport, c: c, store: st, log: cfg.Logger,
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
	}
	_ = st.Close()
	return nil, err
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
			err = fmt.Errorf("site: witness: close election store: %w", cerr)
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
	st.SendErrors = w.sendErrs.Load()
	return st
}

func (w *Witness) run() {
	defer close(w.done)
	tick := time.NewTicker(w.cfg.Timing.Tick)
	defer tick.Stop()
	recv := w.tr.Recv()
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
			w.c.Tick()
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
		if err := advertise(w.tr, id, w.cfg.Advertise); err != nil {
			w.sendErrs.Add(1)
		}
		w.c.PeerUp(id)
	case transport.KindConnDown:
		w.peers[id] = false
		// The witness's only sign of a dead master (see the file comment).
		if st := w.c.Status().Elect; st.Role == elect.RoleClient && SiteID(st.Master) == id {
			w.log.Info("elect: lost the connection to the master", "master", uint64(id), "gen", st.Gen)
		}
		w.c.PeerDown(id)
	case transport.KindMessage:
		if ok, err := w.addrs.receive(id, tm.Body); ok {
			if err != nil {
				w.log.Warn("site: dropped a message", "from", uint64(id), "err", err)
			}
			return
		}
		if err := w.c.Receive(id, tm.Body); err != nil {
			w.log.Warn("elect: dropped a message", "from", uint64(id), "err", err)
		}
	}
}

// process carries out the core's Ready and publishes the status.
func (w *Witness) process() {
	for w.broken == nil && w.c.HasReady() {
		rd := w.c.Ready()
		if rd.State != nil {
			if err := w.store.Save(*rd.State); err != nil {
				w.broken = fmt.Errorf("site: witness: %w", err)
				w.log.Error("elect: persisting election state failed; the witness stops taking part in elections", "err", err)
				break
			}
		}
		for _, m := range rd.ElectMessages {
			b, err := sitecore.EncodeElect(m)
			if err != nil {
				w.log.Error("elect: encode message", "msg", m.String(), "err", err)
				continue
			}
			if err := w.tr.Send(transport.ID(m.To), b); err != nil {
				w.sendErrs.Add(1)
			}
		}
		for _, ev := range rd.ElectEvents {
			logElectEvent(w.log, ev)
			if w.cfg.OnEvent != nil {
				w.cfg.OnEvent(Event{Elect: &ev})
			}
			if w.cfg.Events != nil {
				select {
				case w.cfg.Events <- Event{Elect: &ev}:
				default:
					w.dropped.Add(1)
				}
			}
		}
		w.c.Advance(rd)
	}
	w.publish()
}

func (w *Witness) publish() {
	es := w.c.Status().Elect
	st := WitnessStatus{
		ID: w.cfg.ID, Master: SiteID(es.Master), Gen: es.Gen, EGen: es.EGen, VotedFor: SiteID(es.VotedFor),
		Electing: es.Electing, Holder: SiteID(es.Holder), Err: w.broken,
	}
	cs := w.c.Stats()
	st.RepDropped, st.BadMessages = cs.WitnessRepDropped, cs.BadMessages
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
