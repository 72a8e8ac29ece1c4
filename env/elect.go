package env

// Elections in the replication driver.
//
// With ReplicationConfig.Elect set, the driver goroutine owns an
// elect.Node beside the rep.Node and lets it choose the site's role. The
// rules of how the two meet are internal/repelect's, shared with the
// simulator:
//
//   - both nodes tick on the driver's ticker;
//   - rep NEWMASTER and HEARTBEAT from another site -> elect MasterSeen;
//     rep EventMasterSilent, and EventConnectBroken of the current
//     master -> elect MasterLost;
//   - whenever rep's durable LSN moves (local commit, client fsync,
//     rollback, install) -> elect UpdateLastRecord(gen of that record,
//     LSN);
//   - elect's Ready is carried out in its contract order: State is
//     written to <dir>/elect.db (raft-boltdb, fsynced on commit) BEFORE
//     any of its Messages is sent; Role becomes rep.BecomeMaster(gen) plus
//     Replica.SetGeneration(gen), rep.StepDown, rep.BecomeClient(master,
//     gen), or rep.MasterHeard when rep already follows that master
//     (repelect.RoleAction); Events are logged and delivered.
//   - writes need rep's master role AND elect's WriteErr == nil.
//   - with Leases, the driver publishes the lease deadline that
//     Env.ViewLease checks (lease.go); a witness peer (Site.Witness) is
//     elect's only, never rep's (witness.go, which also runs a witness
//     site through the same Ready code, carryOutElect).
//
// Both protocols share one transport: every body starts with an envelope
// byte, 'r' (rep message follows) or 'e' (elect message follows); see
// docs/protocol.md, "Envelope". A body with any other first byte, or one
// its protocol rejects, is counted in RepStats.BadMessages and logged.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"time"

	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"logship/elect"
	"logship/internal/repelect"
	"logship/rep"
	"logship/rep/transport"
	"logship/wal/lsn"
)

// ElectEvent is an election event (elect.Event), re-exported for
// embedders.
type ElectEvent = elect.Event

// ElectStatus is the election state machine's status (elect.Status).
type ElectStatus = elect.Status

// Envelope bytes: the first byte of every transport body.
const (
	envelopeRep   byte = 'r'
	envelopeElect byte = 'e'
)

// electStoreFile is the stable store of the election HardState, in the
// environment's directory unless ReplicationConfig.ElectDir says otherwise.
const electStoreFile = "elect.db"

// hardStateKey is the raft-boltdb key holding the encoded HardState: one
// key, so a HardState is written in one fsynced bolt transaction.
var hardStateKey = []byte("elect/hardstate")

// hardStateVersion 3 appends the electability class; version 2 records
// (without it) and version 1 records (without Promised either) still
// decode, and elect.New derives what they lack.
const hardStateVersion = 3

// hardStateLenV1: version, EGen, VotedFor, Holder, HolderGen, tentative;
// hardStateLenV2 adds Promised; hardStateLen adds Electability (a byte).
const (
	hardStateLenV1 = 1 + 4*8 + 1
	hardStateLenV2 = hardStateLenV1 + 8
	hardStateLen   = hardStateLenV2 + 1
)

func encodeHardState(hs elect.HardState) []byte {
	b := make([]byte, hardStateLen)
	b[0] = hardStateVersion
	binary.BigEndian.PutUint64(b[1:], hs.EGen)
	binary.BigEndian.PutUint64(b[9:], uint64(hs.VotedFor))
	binary.BigEndian.PutUint64(b[17:], uint64(hs.Holder))
	binary.BigEndian.PutUint64(b[25:], hs.HolderGen)
	if hs.HolderTentative {
		b[33] = 1
	}
	binary.BigEndian.PutUint64(b[34:], hs.Promised)
	b[42] = byte(hs.Electability)
	return b
}

func decodeHardState(b []byte) (elect.HardState, error) {
	ok := len(b) == hardStateLen && b[0] == hardStateVersion ||
		len(b) == hardStateLenV2 && b[0] == 2 || len(b) == hardStateLenV1 && b[0] == 1
	if !ok || b[33] > 1 || len(b) == hardStateLen && b[42] > byte(elect.Unelectable) {
		return elect.HardState{}, fmt.Errorf("env: elect store: bad hard state record (%d bytes)", len(b))
	}
	hs := elect.HardState{
		EGen:            binary.BigEndian.Uint64(b[1:]),
		VotedFor:        elect.SiteID(binary.BigEndian.Uint64(b[9:])),
		Holder:          elect.SiteID(binary.BigEndian.Uint64(b[17:])),
		HolderGen:       binary.BigEndian.Uint64(b[25:]),
		HolderTentative: b[33] == 1,
	}
	if len(b) >= hardStateLenV2 {
		hs.Promised = binary.BigEndian.Uint64(b[34:])
	}
	if len(b) == hardStateLen {
		hs.Electability = elect.Electability(b[42])
	}
	return hs, nil
}

// electStore keeps the election HardState in a raft-boltdb StableStore.
type electStore struct {
	db *raftboltdb.BoltStore
}

// openElectStore opens (creating) the store at path.
func openElectStore(path string) (*electStore, error) {
	db, err := raftboltdb.NewBoltStore(path)
	if err != nil {
		return nil, fmt.Errorf("env: open elect store %s: %w", path, err)
	}
	return &electStore{db: db}, nil
}

// Load returns the last saved HardState, the zero one if none was saved.
func (s *electStore) Load() (elect.HardState, error) {
	b, err := s.db.Get(hardStateKey)
	if errors.Is(err, raftboltdb.ErrKeyNotFound) {
		return elect.HardState{}, nil
	}
	if err != nil {
		return elect.HardState{}, fmt.Errorf("env: elect store: %w", err)
	}
	return decodeHardState(b)
}

// Save writes hs durably: the bolt transaction is fsynced on commit.
func (s *electStore) Save(hs elect.HardState) error {
	if err := s.db.Set(hardStateKey, encodeHardState(hs)); err != nil {
		return fmt.Errorf("env: elect store: %w", err)
	}
	return nil
}

func (s *electStore) Close() error { return s.db.Close() }

// electConfig builds the elect.Config from c; repHeartbeatTicks is rep's
// heartbeat interval in ticks (elect's lease/grant refresh uses it too).
func (c ReplicationConfig) electConfig(repHeartbeatTicks int) (elect.Config, error) {
	ec := elect.DefaultConfig()
	scale := func(def int, d time.Duration) int {
		if d > 0 {
			return max(1, int((d+c.TickInterval-1)/c.TickInterval))
		}
		return max(1, int(time.Duration(def)*elect.TickMillis*time.Millisecond/c.TickInterval))
	}
	ec.ID, ec.Priority = elect.SiteID(c.ID), c.Priority
	for _, s := range c.Sites {
		ec.Sites = append(ec.Sites, elect.Site{ID: elect.SiteID(s.ID), Witness: s.Witness})
	}
	ec.VoteWaitTicks = scale(ec.VoteWaitTicks, c.ElectVoteWait)
	ec.ElectionTicks = scale(ec.ElectionTicks, c.ElectTimeout)
	switch {
	case c.ElectFullTimeout < 0:
		ec.FullElectionTicks = 0
	default:
		ec.FullElectionTicks = scale(ec.FullElectionTicks, c.ElectFullTimeout)
	}
	ec.RetryTicks = scale(ec.RetryTicks, c.ElectRetry)
	if repHeartbeatTicks > 0 {
		ec.HeartbeatTicks = repHeartbeatTicks
	}
	ec.Rand = mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), uint64(c.ID)))
	c.electOptions(&ec) // leases and witness: lease.go
	if c.ElectTune != nil {
		c.ElectTune(&ec)
	}
	return ec, ec.Validate()
}

// Election defaults for rep's failure detection in elect mode: the master
// heartbeats every 100 ms and a client declares it silent after three
// missed heartbeats, so with elect's defaults a group fails over in about
// a second.
const (
	electHeartbeat        = 100 * time.Millisecond
	electHeartbeatMonitor = 3 * electHeartbeat
)

// electState is the driver's election half.
type electState struct {
	n      *elect.Node
	store  *electStore
	broken bool // the store failed: send nothing more

	lastLSN lsn.LSN // last durable record reported to n

	lease *leaseClock // nil unless leases are on (lease.go)
	wit   witnessView // the group's witnesses (witness.go)
}

// startElect opens the store, loads the HardState and creates the node.
// The caller calls n.Start on the driver goroutine's behalf.
func (d *driver) startElect(cfg ReplicationConfig, heartbeatTicks int) error {
	ec, err := cfg.electConfig(heartbeatTicks)
	if err != nil {
		return err
	}
	dir := cfg.ElectDir
	if dir == "" {
		dir = d.e.Dir()
	}
	st, err := openElectStore(filepath.Join(dir, electStoreFile))
	if err != nil {
		return err
	}
	hs, err := st.Load()
	if err != nil {
		_ = st.Close()
		return err
	}
	n, err := elect.New(ec, hs)
	if err != nil {
		_ = st.Close()
		return err
	}
	d.el = &electState{n: n, store: st, wit: newWitnessView(cfg.Sites)}
	if ec.Leases {
		d.el.lease = newLeaseClock(ec, cfg.TickInterval)
	}
	d.log.Info("elect: starting", "egen", hs.EGen, "voted_for", uint64(hs.VotedFor),
		"electability", n.Electability().String())
	if hs.Electability != elect.ElectabilityUnknown && (cfg.Priority > 0) != (n.Electability() == elect.Electable) {
		d.log.Warn("elect: this site keeps the electability fixed at its first start; its priority now only decides whether it stands in elections",
			"priority", cfg.Priority, "electability", n.Electability().String())
	}
	n.Start()
	return nil
}

// repElectability is rep's spelling of an elect class.
func repElectability(e elect.Electability) rep.Electability {
	switch e {
	case elect.Electable:
		return rep.Electable
	case elect.Unelectable:
		return rep.Unelectable
	}
	return rep.ElectabilityUnknown
}

// noteLastRecord tells the elect node the generation and LSN of the last
// durable record, when it moved.
func (d *driver) noteLastRecord() {
	el := d.el
	at := d.n.Status().Durable
	if at.IsZero() {
		at = d.r.Durable()
	}
	if at.IsZero() || at == el.lastLSN {
		return
	}
	gen := d.tailGen
	if at != d.tail {
		// Moved by a rollback or an install, not by an append: read it.
		gen = d.e.Generation()
		if rec, err := d.r.Read(at); err == nil {
			gen = rec.Gen
		}
	}
	el.lastLSN = at
	el.n.UpdateLastRecord(gen, at)
}

// sendEnvelope prefixes body with the envelope byte and sends it. The
// driver and the witness both send through it.
func sendEnvelope(tr transport.Transport, to SiteID, env byte, body []byte) error {
	b := make([]byte, 1+len(body))
	b[0] = env
	copy(b[1:], body)
	return tr.Send(transport.ID(to), b)
}

// sendBody prefixes body with the envelope byte and sends it.
func (d *driver) sendBody(to SiteID, env byte, body []byte) {
	if err := sendEnvelope(d.tr, to, env, body); err != nil {
		d.sendErrs.Add(1)
	}
}

// decodeElect decodes an elect message body (envelope stripped) that
// arrived on the connection of site from; a message claiming another
// sender is rejected, so a site cannot vote in another's name.
func decodeElect(from transport.ID, body []byte) (elect.Message, error) {
	m, err := elect.Unmarshal(body)
	if err == nil && uint64(m.From) != uint64(from) {
		err = fmt.Errorf("%w: From %d on the connection of site %d", elect.ErrBadMessage, m.From, from)
	}
	return m, err
}

// receiveElect steps one elect message body (envelope stripped).
func (d *driver) receiveElect(from transport.ID, body []byte) {
	if d.el == nil {
		d.badMsgs.Add(1)
		d.log.Warn("elect: dropped an election message: elections are off", "from", from)
		return
	}
	m, err := decodeElect(from, body)
	if err != nil {
		d.badMsgs.Add(1)
		d.log.Warn("elect: dropped a malformed message", "from", from, "err", err)
		return
	}
	if err := d.el.n.Step(m); err != nil {
		d.badMsgs.Add(1)
		d.log.Warn("elect: dropped a message", "from", from, "err", err)
	}
}

// repSeen feeds elect what a received rep message says about masters.
func (d *driver) repSeen(m rep.Message) {
	if d.el == nil {
		return
	}
	if id, gen, ok := repelect.MasterClaim(d.cfg.ID, m); ok {
		d.el.n.MasterSeen(id, gen)
	}
}

// promisedAway reports (and counts) a rep message rep must not see because
// this site voted in a newer election (repelect.PromisedAway).
func (d *driver) promisedAway(m rep.Message) bool {
	if d.el == nil || !repelect.PromisedAway(d.el.n.Promised(), m) {
		return false
	}
	d.promisedDrops.Add(1)
	return true
}

// ackPromisedAway reports (and counts) an ACK that must not go out
// (repelect.AckPromisedAway).
func (d *driver) ackPromisedAway(m rep.Message) bool {
	if d.el == nil || !repelect.AckPromisedAway(d.el.n.Promised(), m) {
		return false
	}
	d.promisedDrops.Add(1)
	return true
}

// repEventSeen feeds elect rep's failure detection.
func (d *driver) repEventSeen(ev rep.Event) {
	if d.el != nil && repelect.MasterLost(d.n.Status(), ev) {
		d.el.n.MasterLost()
	}
}

// processElect carries out one elect Ready, if any, in its contract
// order; it reports whether it did anything (rep may then have work).
func (d *driver) processElect() bool {
	el := d.el
	if el == nil || el.broken {
		return false
	}
	d.noteLastRecord()
	d.noteMirrored()
	did, err := carryOutElect(el.n, el.store, d.log, d.carryOutRole, d.sendBody, d.electEvent)
	if err != nil {
		el.broken = true
		d.log.Error("elect: persisting election state failed; this site stops taking part in elections", "err", err)
		_ = d.e.fail(fmt.Errorf("env: elections: %w", err))
		return false
	}
	return did
}

// carryOutElect carries out n's Ready, if any, in its contract order, for
// a data site's driver and a witness alike; it reports whether there was
// one. A failed store write stops it before any message goes out: the
// caller must then take the site out of elections.
func carryOutElect(n *elect.Node, store *electStore, log *slog.Logger, role func(elect.RoleDecision),
	send func(to SiteID, env byte, body []byte), event func(elect.Event)) (bool, error) {
	if !n.HasReady() {
		return false, nil
	}
	rd := n.Ready()
	// 1. State, durable before any message.
	if rd.State != nil {
		if err := store.Save(*rd.State); err != nil {
			return false, err
		}
	}
	// 2. Role.
	if rd.Role != nil {
		role(*rd.Role)
	}
	// 3. Messages.
	for _, m := range rd.Messages {
		b, err := elect.Marshal(m)
		if err != nil {
			log.Error("elect: encode message", "msg", m.String(), "err", err)
			continue
		}
		send(SiteID(m.To), envelopeElect, b)
	}
	// 4. Events.
	for _, ev := range rd.Events {
		event(ev)
	}
	n.Advance(rd)
	return true, nil
}

// carryOutRole makes rep take the role elect decided.
func (d *driver) carryOutRole(rd elect.RoleDecision) {
	st := d.n.Status()
	switch repelect.RoleAction(st, rd) {
	case repelect.BecomeMaster:
		if err := d.n.BecomeMaster(rd.Gen); err != nil {
			d.log.Error("elect: won, but rep cannot become master", "gen", rd.Gen, "err", err)
			return
		}
		d.r.SetGeneration(rd.Gen)
	case repelect.StepDown:
		// rep stops acting as master, so its clients notice it is gone;
		// commits waiting for acks are reported not permanent.
		d.log.Warn("elect: master standing down for a newer election", "gen", st.Gen)
		d.n.StepDown()
		d.failWaiters()
	case repelect.BecomeClient:
		master := SiteID(rd.Master)
		if err := d.n.BecomeClient(master, rd.Gen); err != nil {
			d.log.Error("elect: rep cannot follow the new master", "master", uint64(master), "gen", rd.Gen, "err", err)
		}
	case repelect.MasterHeard:
		d.n.MasterHeard(SiteID(rd.Master), rd.Gen)
	}
}

func (d *driver) electEvent(ev elect.Event) {
	d.transferEvent(ev)
	publishElectEvent(d.log, d.cfg, &d.dropped, ev)
}

// publishElectEvent logs ev and hands it to the configured handler and
// channel (a full channel drops it and counts it in dropped).
func publishElectEvent(log *slog.Logger, cfg ReplicationConfig, dropped *atomic.Uint64, ev elect.Event) {
	lvl := slog.LevelInfo
	switch ev.Type {
	case elect.EventElectionFailed, elect.EventLeaseExpired, elect.EventGrantRefused, elect.EventTransferFailed:
		lvl = slog.LevelWarn
	case elect.EventDupMaster, elect.EventSteppedDown:
		lvl = slog.LevelError
	}
	log.Log(context.Background(), lvl, "elect: "+ev.Type.String(), "peer", uint64(ev.Site), "gen", ev.Gen)
	if cfg.OnElectEvent != nil {
		cfg.OnElectEvent(ev)
	}
	if cfg.ElectEvents != nil {
		select {
		case cfg.ElectEvents <- ev:
		default:
			dropped.Add(1)
		}
	}
}

// closeElect closes the store (after the driver goroutine ended).
func (d *driver) closeElect() {
	if d.el != nil {
		if err := d.el.store.Close(); err != nil {
			d.log.Warn("elect: close store", "err", err)
		}
	}
}

// Elect holds an election now (repadmin elect; Berkeley DB rep_elect).
// A site that hears a current master does not join it, and the master
// answers it, so it cannot depose a live master.
func (e *Env) Elect() error {
	d, err := e.repDriver()
	if err != nil {
		return err
	}
	if d.el == nil {
		return fmt.Errorf("%w: elections are off (ReplicationConfig.Elect)", ErrReplication)
	}
	return d.do(d.el.n.Campaign)
}

// ElectStatus returns the election state machine's status.
func (e *Env) ElectStatus() (ElectStatus, error) {
	d, err := e.repDriver()
	if err != nil {
		return ElectStatus{}, err
	}
	if d.el == nil {
		return ElectStatus{}, fmt.Errorf("%w: elections are off (ReplicationConfig.Elect)", ErrReplication)
	}
	d.pmu.Lock()
	defer d.pmu.Unlock()
	return d.electStatus, nil
}
