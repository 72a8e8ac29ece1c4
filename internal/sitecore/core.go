package sitecore

import (
	"errors"
	"fmt"
	"slices"

	"logship/elect"
	"logship/rep"
	"logship/wal/lsn"
)

// Envelope bytes: the first byte of every transport body.
const (
	EnvelopeRep   byte = 'r'
	EnvelopeElect byte = 'e'
)

// ErrNotMaster refuses a local write on a site that may not write now;
// errors.Is matches rep.ErrNotMaster too.
var ErrNotMaster = fmt.Errorf("sitecore: %w", rep.ErrNotMaster)

// ErrHalted is the core's answer to commands once Halt was called.
var ErrHalted = errors.New("sitecore: replication halted: the site's storage failed")

// Config configures a Core.
type Config struct {
	// Rep configures the rep node; nil for a witness site. Its Sites are
	// the data sites only; witnesses are elect's (Witnesses).
	Rep *rep.Config
	// Elect configures the elect node; nil: elections off, the roles are
	// appointed (StartMaster, StartClient). Its Sites are every other
	// site, witnesses included.
	Elect *elect.Config
	// State is the election state last persisted (with Elect).
	State elect.HardState
	// Members, if not nil, is the group's membership as the driver found
	// it in the log at start (members.go): it replaces the sites of Rep
	// and Elect before the site takes part in anything. Nil: the
	// configured sites, all voting. Known: see SetMembership.
	Members *rep.Membership
	Known   []rep.SiteID
}

// Validate reports every bad field, naming it; it never mutates c.
func (c Config) Validate() error {
	var errs []error
	if c.Rep == nil && c.Elect == nil {
		errs = append(errs, errors.New("sitecore: Rep or Elect must be set"))
	}
	if c.Rep == nil && c.Elect != nil && !c.Elect.Witness {
		errs = append(errs, errors.New("sitecore: Rep must be set on a data site (Elect.Witness is off)"))
	}
	if c.Rep != nil && c.Elect != nil {
		if c.Elect.Witness {
			errs = append(errs, errors.New("sitecore: a witness (Elect.Witness) keeps no log: Rep must be nil"))
		}
		if uint64(c.Rep.ID) != uint64(c.Elect.ID) {
			errs = append(errs, fmt.Errorf("sitecore: Rep.ID (%d) and Elect.ID (%d) differ", c.Rep.ID, c.Elect.ID))
		}
		data := map[uint64]bool{}
		for _, s := range c.Rep.Sites {
			data[uint64(s.ID)] = true
		}
		for i, s := range c.Elect.Sites {
			if s.Witness == data[uint64(s.ID)] {
				kind := "a data site"
				if s.Witness {
					kind = "a witness"
				}
				errs = append(errs, fmt.Errorf("sitecore: Elect.Sites[%d] (%d) is %s, so it must %s Rep.Sites", i, s.ID, kind,
					map[bool]string{true: "not be in", false: "be in"}[s.Witness]))
			}
			delete(data, uint64(s.ID))
		}
		for id := range data {
			errs = append(errs, fmt.Errorf("sitecore: Rep.Sites has site %d, which Elect.Sites lacks", id))
		}
	}
	return errors.Join(errs...)
}

// Core is one site's replication logic. It is not safe for concurrent
// use: one goroutine (the runtime's loop, or the simulator) owns it.
type Core struct {
	id rep.SiteID
	// stepped names the type of the last message Receive decoded, for
	// the driver's diagnostics of slow turns.
	stepped string
	rep     *rep.Node   // nil on a witness
	el      *elect.Node // nil with elections off
	log     rep.LogReader

	witnesses []rep.SiteID
	witUp     map[rep.SiteID]bool
	mirror    mirror

	// admitted: local commits are admitted (the driver was told so with
	// Ready.Admit); closed: the driver was told to shut them out (once at
	// least: the store starts admitting them). fencing: it was, and has
	// not yet reported the log end it saw (Fenced).
	admitted, closed, fencing bool
	admitGen                  uint64

	halted  bool
	stalled bool

	// The newest record handed to rep (a local commit or a master's
	// record), with its generation, so telling elect the last record's
	// generation costs no log read on the commit path.
	tail    lsn.LSN
	tailGen uint64
	noted   lsn.LSN // the last durable record told to elect

	// members: the membership in use (members.go); haveMembers once the
	// driver set one.
	members     rep.Membership
	haveMembers bool
	membersDone bool // members' record seen at the commit point

	out   outbox
	stats Stats
}

// outbox holds the core's own effects until Advance.
type outbox struct {
	admit    *Admission
	rollback *rep.Rollback
	state    *elect.HardState
	emsgs    []elect.Message
	eevents  []elect.Event
	rejected []rep.CommitResult
	errs     []error
}

// Stats are the core's counters.
type Stats struct {
	// PromisedDrops: rep messages of a master older than the newest
	// election this site voted in, dropped, and ACKs to such a master
	// withheld (PromisedAway, AckPromisedAway).
	PromisedDrops uint64
	// BadMessages: bodies Receive rejected (no envelope, malformed, an
	// elect message naming another sender).
	BadMessages uint64
	// WitnessRepDropped: rep messages a witness received and dropped.
	WitnessRepDropped uint64
	// Rejected: local commits handed over while not master, reported not
	// permanent.
	Rejected uint64
	// ImpossibleGens: messages refused for a generation no honest site
	// can have reached (gen.go); counted in BadMessages too.
	ImpossibleGens uint64
}

// New returns a core over cfg. With elections it starts taking part at
// once (elect.Node.Start): a site that knows no master holds an
// election.
func New(cfg Config) (*Core, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Core{witUp: map[rep.SiteID]bool{}}
	if cfg.Elect != nil {
		ec := *cfg.Elect
		c.id = rep.SiteID(ec.ID)
		for _, s := range ec.Sites {
			if s.Witness {
				c.witnesses = append(c.witnesses, rep.SiteID(s.ID))
			}
		}
		n, err := elect.New(ec, cfg.State)
		if err != nil {
			return nil, err
		}
		c.el = n
		c.mirror = newMirror(ec, c.witnesses)
	}
	if cfg.Rep != nil {
		rc := *cfg.Rep
		if c.el != nil {
			// The group counts this site by the class elect fixed at its
			// first start, not by today's priority (elect.HardState).
			rc.Electability = repElectability(c.el.Electability())
		}
		n, err := rep.New(rc)
		if err != nil {
			return nil, err
		}
		// tail stays Zero: the generation of the log's last record is read
		// from the log (noteLastRecord), not assumed.
		c.id, c.rep, c.log = rc.ID, n, rc.Log
	}
	if cfg.Members != nil {
		if err := c.SetMembership(*cfg.Members, cfg.Known); err != nil {
			return nil, err
		}
	}
	if c.el != nil {
		c.noteLastRecord()
		c.el.Start()
	}
	c.settle()
	return c, nil
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

// Elections reports whether elections choose the master.
func (c *Core) Elections() bool { return c.el != nil }

// isWitness reports whether id is one of the group's witnesses.
func (c *Core) isWitness(id rep.SiteID) bool { return slices.Contains(c.witnesses, id) }

// Receive steps one transport body from site from. It returns an error
// (counted in Stats.BadMessages) for a body it rejects: no envelope, a
// malformed message, an elect message naming another sender, a message
// for another site.
func (c *Core) Receive(from rep.SiteID, body []byte) error {
	err := c.receive(from, body)
	if err != nil {
		c.stats.BadMessages++
	}
	c.settle()
	return err
}

// Stepped names the type of the last message Receive decoded ("" before
// any, or when the last one did not decode).
func (c *Core) Stepped() string { return c.stepped }

func (c *Core) receive(from rep.SiteID, body []byte) error {
	c.stepped = ""
	if len(body) == 0 || body[0] != EnvelopeRep && body[0] != EnvelopeElect {
		return fmt.Errorf("sitecore: a message from %d with no envelope byte (%d bytes)", from, len(body))
	}
	if body[0] == EnvelopeElect {
		if c.el == nil {
			return fmt.Errorf("sitecore: an election message from %d, but elections are off here", from)
		}
		m, err := elect.Unmarshal(body[1:])
		if err != nil {
			return err
		}
		c.stepped = m.Type.String()
		if uint64(m.From) != uint64(from) {
			return fmt.Errorf("%w: From %d on the connection of site %d", elect.ErrBadMessage, m.From, from)
		}
		if err := c.checkElectGen(m); err != nil {
			return err
		}
		return c.el.Step(m)
	}
	if c.rep == nil || c.isWitness(from) {
		c.stats.WitnessRepDropped++
		return nil // a witness keeps no log, and rep does not know one
	}
	if c.halted {
		return nil
	}
	m, err := rep.Unmarshal(body[1:])
	if err != nil {
		return err
	}
	c.stepped = m.Type.String()
	if err := c.checkRepGen(m); err != nil {
		return err
	}
	if c.el != nil && PromisedAway(c.el.Promised(), m) {
		c.stats.PromisedDrops++
		return nil
	}
	if err := c.rep.Step(m); err != nil {
		return err
	}
	if c.el != nil {
		if id, gen, ok := MasterClaim(c.id, m); ok {
			c.el.MasterSeen(id, gen)
		}
	}
	return nil
}

// PeerUp tells the core the connection to id is (re)established. A
// master announces itself to a witness coming up: rep, which tells the
// data sites, knows no witness.
func (c *Core) PeerUp(id rep.SiteID) {
	switch {
	case c.isWitness(id):
		c.witUp[id] = true
		if c.el != nil {
			c.el.Announce(elect.SiteID(id))
		}
	case c.rep != nil && !c.halted:
		c.rep.PeerUp(id)
	default:
		c.witUp[id] = true
	}
	if c.el != nil {
		c.el.PeerUp(elect.SiteID(id)) // resend what the election sent before the connection
	}
	c.settle()
}

// PeerDown tells the core the connection to id broke. On a witness, the
// loss of the master's connection is its sign of a dead master.
func (c *Core) PeerDown(id rep.SiteID) {
	switch {
	case c.isWitness(id):
		c.witUp[id] = false
	case c.rep != nil:
		if !c.halted {
			c.rep.PeerDown(id)
		}
	default:
		c.witUp[id] = false
		if st := c.el.Status(); st.Role == elect.RoleClient && rep.SiteID(st.Master) == id {
			c.el.MasterLost()
		}
	}
	c.settle()
}

// Tick advances both nodes' clocks by one tick (rep's and elect's
// TickMillis are the same).
func (c *Core) Tick() {
	if c.rep != nil && !c.halted {
		c.rep.Tick()
	}
	if c.el != nil {
		c.el.Tick()
	}
	c.settle()
}

// Appended hands rep the records of local commits, appended to the log
// in order (not necessarily durable yet). On a site that is not master
// they are reported not permanent (Ready.Rejected): a fence rolls them
// back.
func (c *Core) Appended(recs []rep.Record) {
	if len(recs) == 0 {
		return
	}
	err := ErrHalted
	if c.rep != nil && !c.halted {
		err = c.rep.Appended(recs)
	}
	if err == nil {
		c.noteTail(recs)
	} else {
		for _, r := range recs {
			c.out.rejected = append(c.out.rejected, rep.CommitResult{LSN: r.LSN})
			c.stats.Rejected++
		}
	}
	c.settle()
}

// Persisted tells the core the local log is durable up to at.
func (c *Core) Persisted(at lsn.LSN) {
	if c.rep != nil && !c.halted {
		c.rep.Persisted(at)
	}
	c.settle()
}

// InstallFailed is Advance for a Ready whose Install was not carried out
// (rep.Node.InstallFailed): the snapshot arrived damaged, and nothing of
// rd after its chunks reached the storage. last and durable are the
// log's ends; stop, if not nil, gives the init up (rep.Node.InstallFailed).
// rep hears of it before the Advance, so that elect is never told the
// snapshot's position as the log's.
func (c *Core) InstallFailed(rd Ready, last, durable lsn.LSN, stop error) {
	if c.rep != nil && !c.halted {
		c.rep.InstallFailed(last, durable, stop)
		c.tail, c.tailGen = lsn.Zero, 0 // read again from the log
	}
	rd.repRd.Append = nil // never appended
	c.Advance(rd)
}

// Applied tells a client's core the newest record its readers see and the
// digest of its data there (0 if unknown); rep reports both to the master.
func (c *Core) Applied(at lsn.LSN, digest uint64) {
	if c.rep != nil && !c.halted {
		c.rep.Applied(at, digest)
	}
	c.settle()
}

// SnapshotTaken hands rep the snapshot Ready.Rep.TakeSnapshot asked for.
func (c *Core) SnapshotTaken(info rep.SnapInfo, r rep.SnapshotReader) error {
	if c.rep == nil || c.halted {
		return ErrHalted
	}
	err := c.rep.SnapshotTaken(info, r)
	c.settle()
	return err
}

// Fenced reports that the driver shut local commits out, as Ready.Admit
// asked, and that the log's last record was then last: records after
// rep's last one were appended by commits that raced the role change and
// are rolled back (Ready.Rollback).
func (c *Core) Fenced(last lsn.LSN) {
	if !c.fencing {
		return
	}
	c.fencing = false
	if r := c.repLast(); !last.IsZero() && r.Less(last) {
		c.out.rollback = &rep.Rollback{To: r, From: last}
		c.tail, c.tailGen = lsn.Zero, 0 // its generation is read again
	}
	c.settle()
}

func (c *Core) repLast() lsn.LSN {
	if c.rep == nil {
		return lsn.Zero
	}
	return c.rep.Last()
}

// noteTail remembers the generation of the newest of recs.
func (c *Core) noteTail(recs []rep.Record) {
	if n := len(recs); n > 0 {
		c.tail, c.tailGen = recs[n-1].LSN, recs[n-1].Gen
	}
}
