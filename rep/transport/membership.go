package transport

import "fmt"

// AddPeer adds site id at addr to the set of peers: connections from it
// are accepted from now on, and if id is higher than this site's, this
// site starts dialling it. Replication Manager groups change membership at
// run time, as sites join and leave.
func (t *TCP) AddPeer(id ID, addr string) error {
	switch {
	case id == 0 || id == t.cfg.SelfID:
		return fmt.Errorf("%w: cannot add site %d as a peer of site %d", ErrConfig, id, t.cfg.SelfID)
	case addr == "":
		return fmt.Errorf("%w: site %d has an empty address", ErrConfig, id)
	}
	p := &peer{id: id, addr: addr, dials: t.cfg.SelfID < id, stop: make(chan struct{}), knocked: make(chan struct{}, 1)}
	t.pmu.Lock()
	defer t.pmu.Unlock()
	if old := t.peers[id]; old != nil {
		return fmt.Errorf("%w: site %d is already a peer (at %s); remove it first", ErrConfig, id, old.addr)
	}
	if p.dials {
		// Checked and counted under t.mu, where Close sets closed before
		// it waits for the goroutines: no dial loop can start after that.
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.closed {
			return ErrClosed
		}
		t.wg.Add(1)
		go t.dialLoop(p)
	} else {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.closed {
			return ErrClosed
		}
		t.wg.Add(1)
		go t.knock(p)
	}
	t.peers[id] = p
	return nil
}

// RemovePeer removes site id: its connection is closed (a ConnDown event
// follows), its dial loop stops, messages to it fail with ErrUnknownSite
// and its connections are refused. Its statistics are discarded.
func (t *TCP) RemovePeer(id ID) error {
	t.pmu.Lock()
	p := t.peers[id]
	delete(t.peers, id)
	t.pmu.Unlock()
	if p == nil {
		return fmt.Errorf("%w: site %d is not a peer", ErrUnknownSite, id)
	}
	p.mu.Lock()
	p.removed = true
	c := p.cur
	p.mu.Unlock()
	close(p.stop)
	if c != nil {
		c.close()
	}
	t.log.Info("transport: peer removed", "peer", id)
	return nil
}
