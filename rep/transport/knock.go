package transport

// Knocking. Only the lower ID of a pair dials (one connection per pair),
// so a site with the higher ID that starts, say a client restarted after
// a crash, would wait for the other's next dial: up to ReconnectMax of
// back-off, seconds in which it cannot catch up. Instead it knocks: it
// dials once at start and says hello; the lower site, seeing a hello from
// a higher ID, refuses that connection as before but wakes its dial loop
// for the knocker, which dials at once. A knock carries nothing else; a
// site that predates knocking only refuses it.

import (
	"bufio"
	"errors"
	"fmt"
	"time"
)

// errKnock is the refusal a knock gets: the knocked site dials back.
var errKnock = fmt.Errorf("%w: knock", ErrHandshake)

// knockedBy wakes the dial loop for peer id.
func (t *TCP) knockedBy(id ID) {
	p := t.peer(id)
	if p == nil {
		return
	}
	select {
	case p.knocked <- struct{}{}:
	default:
	}
	t.log.Debug("transport: knocked: dialling the peer now", "peer", id)
}

// sleepOrKnock waits d, or until p knocks; ok is false when the transport
// closes or p is removed.
func (t *TCP) sleepOrKnock(d time.Duration, p *peer) (knocked, ok bool) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return false, true
	case <-p.knocked:
		return true, true
	case <-t.closing:
		return false, false
	case <-p.stop:
		return false, false
	}
}

// knock tells p, which dials this site, that this site is up. Once: if p
// is down, it dials as soon as it starts; if the knock is lost, its own
// back-off still applies.
//
// A peer that refuses this site as unknown (this site is not in its
// membership) is knocked at again every knockUnknownEvery, and the refusal
// is kept as the peer's LastError: it does not dial a site it does not
// know, so without this a site the group never added would wait in
// silence, and would never notice being added.
func (t *TCP) knock(p *peer) {
	defer t.wg.Done()
	for warned := false; ; {
		err := t.knockOnce(p)
		if err == nil || !errors.Is(err, ErrUnknownSite) {
			if err != nil {
				t.log.Debug("transport: knock", "peer", p.id, "addr", p.addr, "err", err)
			}
			return
		}
		p.mu.Lock()
		p.lastErr = err.Error()
		up := p.cur != nil
		p.mu.Unlock()
		if up {
			return
		}
		if !warned {
			t.log.Warn("transport: peer refuses this site as unknown; knocking again until it is added", "peer", p.id, "addr", p.addr, "err", err)
			warned = true
		}
		select {
		case <-t.closing:
			return
		case <-p.stop:
			return
		case <-time.After(knockUnknownEvery):
		}
		p.mu.Lock()
		up = p.cur != nil
		p.mu.Unlock()
		if up {
			return
		}
	}
}

// knockUnknownEvery spaces knocks at a peer that does not know this site.
const knockUnknownEvery = 2 * time.Second

func (t *TCP) knockOnce(p *peer) error {
	s, c, _, err := t.dialHello(p, t.secrets.Load())
	if s != nil {
		defer t.untrack(s) // closes it
	}
	if err != nil {
		return err
	}
	// The answer is a refusal (the peer dials back) or an error; either
	// way the knock is done.
	_, err = readHandshake(bufio.NewReader(c))
	return err
}
