package sitecore

import (
	"fmt"

	"logship/elect"
	"logship/rep"
	"logship/wal/lsn"
)

// Ready carries every side effect the core asks of its driver since the
// last Advance. The driver carries the fields out IN THIS ORDER, then
// calls Advance(rd):
//
//  1. Admit: when set, change whether local commits are admitted. Open
//     true: admit them, stamped with generation Gen (env.Admit). Open
//     false: shut them out under the store's writer mutex (env.Shut),
//     call Advance, then Fenced with the log's last record as the store
//     saw it while shutting. Such a Ready carries nothing else; the next
//     one follows Fenced. (rep reports the commits that were waiting for
//     their ack policy not permanent, in Rep.Commits.)
//  2. Rollback: undo the log after Rollback.To the way rep's rollback is
//     carried out (into a rollback file first): local commits that raced
//     a role change. Durable before 4.
//  3. State: persist the election state. Durable before 5.
//  4. Rep: rep's Ready in its own contract order (rep/ready.go): its
//     rollback, chunks, install and appends, then its messages (each
//     body behind EnvelopeRep; see Encode), snapshot, commit results and
//     events. After the appends the driver fsyncs when it likes and
//     calls Persisted.
//  5. ElectMessages: send each, behind EnvelopeElect.
//  6. Rejected: report these local commits not permanent.
//  7. ElectEvents, and Rep.Events: publish (logs, metrics, callbacks).
//
// Errors lists what the core could not do (say, rep refusing a role
// elect decided): log them.
type Ready struct {
	Admit         *Admission
	Rollback      *rep.Rollback
	State         *elect.HardState
	Rep           rep.Ready
	ElectMessages []elect.Message
	ElectEvents   []elect.Event
	Rejected      []rep.CommitResult
	Errors        []error

	repRd rep.Ready // what rep itself returned (Rep.Messages may be filtered)
}

// Admission says whether local commits are admitted (Ready.Admit).
type Admission struct {
	Open bool
	Gen  uint64 // with Open: the generation they are stamped with
}

// Empty reports whether rd asks nothing of the driver.
func (rd Ready) Empty() bool {
	return rd.Admit == nil && rd.Rollback == nil && rd.State == nil && rd.Rep.Empty() &&
		len(rd.ElectMessages) == 0 && len(rd.ElectEvents) == 0 && len(rd.Rejected) == 0 && len(rd.Errors) == 0
}

// HasReady reports whether Ready would return anything.
func (c *Core) HasReady() bool {
	if c.out.admit != nil {
		return true
	}
	if c.fencing {
		return false
	}
	return c.out.rollback != nil || c.out.state != nil || len(c.out.emsgs) > 0 || len(c.out.eevents) > 0 ||
		len(c.out.rejected) > 0 || len(c.out.errs) > 0 || c.rep != nil && c.rep.HasReady()
}

// Ready returns the side effects accumulated since the last Advance. It
// does not change the core; calling it twice returns the same effects.
func (c *Core) Ready() Ready {
	if c.out.admit != nil && !c.out.admit.Open {
		return Ready{Admit: c.out.admit}
	}
	if c.fencing {
		return Ready{}
	}
	rd := Ready{
		Admit: c.out.admit, Rollback: c.out.rollback, State: c.out.state,
		ElectMessages: c.out.emsgs, ElectEvents: c.out.eevents, Rejected: c.out.rejected, Errors: c.out.errs,
	}
	if c.rep != nil {
		rd.repRd = c.rep.Ready()
		rd.Rep = rd.repRd
		if c.el != nil {
			rd.Rep.Messages = withholdAcks(c.el.Promised(), rd.repRd.Messages)
		}
	}
	return rd
}

// withholdAcks drops the ACKs a vote forbids (AckPromisedAway), copying
// msgs only when it drops one.
func withholdAcks(promised uint64, msgs []rep.Message) []rep.Message {
	for i, m := range msgs {
		if !AckPromisedAway(promised, m) {
			continue
		}
		out := append([]rep.Message(nil), msgs[:i]...)
		for _, m := range msgs[i+1:] {
			if !AckPromisedAway(promised, m) {
				out = append(out, m)
			}
		}
		return out
	}
	return msgs
}

// Advance tells the core the driver carried out rd. rep's events reach
// elect here, as the driver publishes them: a silent or lost master
// starts an election.
func (c *Core) Advance(rd Ready) {
	o := &c.out
	if o.admit == rd.Admit {
		o.admit = nil
	}
	if o.rollback == rd.Rollback {
		o.rollback = nil
	}
	if o.state == rd.State {
		o.state = nil
	}
	o.emsgs = dropPrefix(o.emsgs, len(rd.ElectMessages))
	o.eevents = dropPrefix(o.eevents, len(rd.ElectEvents))
	o.rejected = dropPrefix(o.rejected, len(rd.Rejected))
	o.errs = dropPrefix(o.errs, len(rd.Errors))
	if c.rep != nil {
		c.stats.PromisedDrops += uint64(len(rd.repRd.Messages) - len(rd.Rep.Messages))
		c.rep.Advance(rd.repRd)
		c.noteTail(rd.repRd.Append)
		if c.el != nil && len(rd.repRd.Events) > 0 {
			st := c.rep.Status()
			for _, ev := range rd.repRd.Events {
				if MasterLost(st, ev) {
					c.el.MasterLost()
				}
			}
		}
	}
	c.settle()
}

// dropPrefix removes the first k elements, releasing the backing array
// when nothing is left.
func dropPrefix[T any](s []T, k int) []T {
	if k >= len(s) {
		return nil
	}
	return append([]T(nil), s[k:]...)
}

// settle carries out what the last input changed inside the core: elect
// hears the durable log end (and whether the master is mirrored), its
// decisions become rep's role, its state and messages wait in the outbox
// in order, and the admission of local commits follows rep's role.
func (c *Core) settle() {
	for range 64 {
		if c.el == nil {
			break
		}
		c.noteLastRecord()
		c.noteMirrored()
		if !c.el.HasReady() {
			break
		}
		erd := c.el.Ready()
		if erd.State != nil {
			hs := *erd.State
			c.out.state = &hs // the newest covers every older one
		}
		if erd.Role != nil {
			c.carryOutRole(*erd.Role)
		}
		c.out.emsgs = append(c.out.emsgs, erd.Messages...)
		c.out.eevents = append(c.out.eevents, erd.Events...)
		c.el.Advance(erd)
	}
	c.fence()
}

// carryOutRole makes rep take the role elect decided.
func (c *Core) carryOutRole(d elect.RoleDecision) {
	if c.rep == nil {
		return // a witness has no rep
	}
	switch RoleAction(c.rep.Status(), d) {
	case BecomeMaster:
		if err := c.rep.BecomeMaster(d.Gen); err != nil {
			c.out.errs = append(c.out.errs, fmt.Errorf("sitecore: won election %d, but rep cannot become master: %w", d.Gen, err))
		}
	case StepDown:
		// rep stops acting as master, so its clients notice it is gone;
		// the fence reports its waiting commits not permanent.
		c.rep.StepDown()
	case BecomeClient:
		if err := c.rep.BecomeClient(rep.SiteID(d.Master), d.Gen); err != nil {
			c.out.errs = append(c.out.errs, fmt.Errorf("sitecore: rep cannot follow master %d of generation %d: %w", d.Master, d.Gen, err))
		}
	case MasterHeard:
		c.rep.MasterHeard(rep.SiteID(d.Master), d.Gen)
	}
}

// fence keeps the admission of local commits in step with rep's role.
func (c *Core) fence() {
	if c.rep == nil || c.fencing {
		return
	}
	gen := c.rep.Gen()
	master := c.rep.Role() == rep.RoleMaster && !c.halted
	switch {
	case master && (!c.admitted || c.admitGen != gen):
		c.admitted, c.admitGen = true, gen
		c.out.admit = &Admission{Open: true, Gen: gen}
	case !master && (c.admitted || !c.closed):
		c.admitted, c.closed, c.fencing = false, true, true
		c.out.admit = &Admission{Open: false}
	}
}

// noteLastRecord tells elect the generation and LSN of the last durable
// record, when it moved.
func (c *Core) noteLastRecord() {
	if c.rep == nil {
		return
	}
	at := c.rep.Durable()
	if at.IsZero() || at == c.noted {
		return
	}
	gen := c.tailGen
	if at != c.tail {
		// Moved by a rollback or an install, not by an append: read it,
		// or, when it is the record a snapshot ends with (an empty log
		// after an install), ask the log for that record's generation.
		if r, err := c.log.Read(at); err == nil {
			gen = r.Gen
		} else if b, ok := c.log.(BaseLog); ok {
			base, g := b.Base()
			if base != at {
				return // try again at the next move
			}
			gen = g
		} else {
			return
		}
	}
	c.noted = at
	c.el.UpdateLastRecord(gen, at)
}

// BaseLog is a log that also knows the record just before its first one
// (after a snapshot install, the snapshot's last record, whose file the
// log does not hold) and that record's generation. The core tells elect
// about it when the durable log ends there.
type BaseLog interface {
	Base() (lsn.LSN, uint64)
}

// Encode returns m's transport body: EnvelopeRep, then its encoding.
func Encode(m rep.Message) ([]byte, error) {
	b, err := rep.Marshal(m)
	if err != nil {
		return nil, err
	}
	return envelope(EnvelopeRep, b), nil
}

// EncodeElect returns m's transport body: EnvelopeElect, then its
// encoding.
func EncodeElect(m elect.Message) ([]byte, error) {
	b, err := elect.Marshal(m)
	if err != nil {
		return nil, err
	}
	return envelope(EnvelopeElect, b), nil
}

func envelope(env byte, body []byte) []byte {
	b := make([]byte, 1+len(body))
	b[0] = env
	copy(b[1:], body)
	return b
}
