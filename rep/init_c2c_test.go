package rep

import "testing"

// peerInitHarness: like archivedHarness, with site 3's peer being site 2;
// peerOpts adjust site 2's config. Site 2 archives its log too, so
// neither it nor the master can serve site 3 a log range.
func peerInitHarness(t *testing.T, peerOpts func(*Config)) *harness {
	h := archivedHarness(t, func(id SiteID, c *Config) {
		c.InitChunkBytes = 100
		c.HeartbeatTicks = 0
		c.HeartbeatMonitorTicks = 0
		switch id {
		case 2:
			if peerOpts != nil {
				peerOpts(c)
			}
		case 3:
			c.Peer = 2
		}
	})
	h.archive(2, h.node(2).log.Last())
	return h
}

func TestInternalInitIsServedByPeer(t *testing.T) {
	h := peerInitHarness(t, nil)
	m0, p0 := h.node(1).n.Stats(), h.node(2).n.Stats()
	h.node(3).n.PeerUp(1)
	h.process(3)
	h.stabilize()
	h.requireDataEqual(1, 3)
	h.requireEvent(3, EventStartupDone)
	if e := h.requireEvent(3, EventInitDone); e.Site != 2 {
		t.Fatalf("InitDone from site %d, want the peer", e.Site)
	}
	if h.count(MsgUpdateReq, 3, 1) != 0 || h.count(MsgPageReq, 3, 1) != 0 {
		t.Fatal("init requests went to the master")
	}
	for _, m := range h.sent {
		if (m.Type == MsgUpdateReq || m.Type == MsgPageReq) && m.From == 3 && !m.Anywhere {
			t.Fatalf("%v to the peer not marked anywhere", m)
		}
	}
	if c := h.node(3).n.Stats(); c.InitsFromPeer != 1 || c.PageBytesFromPeer == 0 || c.PageBytesFromPeer != c.PageBytesRecv {
		t.Fatalf("client stats %+v", c)
	}
	if p := h.node(2).n.Stats().Sub(p0); p.InitsServed != 1 || p.PagesSent < 2 || p.SnapshotsTaken != 1 {
		t.Fatalf("peer stats %+v", p)
	}
	if m := h.node(1).n.Stats().Sub(m0); m.InitsServed != 0 || m.PagesSent != 0 {
		t.Fatalf("master served the init: %+v", m)
	}
	if r := h.node(2).n.RetainLSN(); !r.IsZero() || h.node(2).n.sv.snap != nil {
		t.Fatalf("peer still retains %s / holds its snapshot", r)
	}
	// Then it follows the live log.
	h.put(1, "after-init")
	h.stabilize()
	h.requireDataEqual(1, 3)
}

func TestPeerThatCannotServeInitSaysSoAndClientInitsFromMaster(t *testing.T) {
	// The peer is not synchronised (waiting for Sync): it refuses.
	h := newHarness(t, 3, func(id SiteID, c *Config) {
		c.InitChunkBytes = 100
		c.DelayClient = id == 2
		if id == 3 {
			c.Peer = 2
		}
	})
	h.group()
	h.partition(1, 3)
	h.putN(1, 10, "x")
	h.stabilize()
	h.archive(1, h.node(1).log.Last())
	h.heal()
	c0, p0 := h.node(3).n.Stats(), h.node(2).n.Stats()
	h.node(3).n.PeerUp(1)
	h.process(3)
	h.stabilize()
	h.requireDataEqual(1, 3)
	if h.count(MsgUpdateReq, 3, 2) != 1 || h.count(MsgUpdateReq, 3, 1) != 1 {
		t.Fatalf("UPDATE_REQ to peer %d, to master %d; want 1, 1", h.count(MsgUpdateReq, 3, 2), h.count(MsgUpdateReq, 3, 1))
	}
	if h.count(MsgLogNotAvail, 2, 3) < 2 {
		t.Fatal("the peer did not refuse both the range and the init")
	}
	c := h.node(3).n.Stats().Sub(c0)
	if c.InitsFromPeer != 0 || c.InitsDone != 1 || c.Rereqs < 2 {
		t.Fatalf("client stats %+v", c)
	}
	if p := h.node(2).n.Stats().Sub(p0); p.InitsServed != 0 || p.ClientSvcMiss < 2 {
		t.Fatalf("peer stats %+v", p)
	}
	if m := h.node(1).n.Stats(); m.InitsServed != 1 {
		t.Fatalf("master InitsServed = %d", m.InitsServed)
	}
}

func TestUnansweredPeerInitIsRerequestedFromMaster(t *testing.T) {
	h := peerInitHarness(t, nil)
	h.partition(2, 3) // the peer never answers
	h.node(3).n.PeerUp(1)
	h.process(3)
	h.stabilize()
	if s := h.node(3).n.Stats(); s.InitsDone != 0 {
		t.Fatal("init done without anyone answering")
	}
	h.tick(4 * DefaultConfig().RequestMinTicks)
	h.requireDataEqual(1, 3)
	h.requireEvent(3, EventStartupDone)
	if h.count(MsgUpdateReq, 3, 1) != 1 {
		t.Fatalf("UPDATE_REQ to master %d, want 1", h.count(MsgUpdateReq, 3, 1))
	}
	if c := h.node(3).n.Stats(); c.InitsFromPeer != 0 || c.Rereqs < 2 || c.InitsDone != 1 {
		t.Fatalf("client stats %+v", c)
	}
}

func TestPeerThatStopsServingSnapshotMidTransferHandsInitToMaster(t *testing.T) {
	h := peerInitHarness(t, nil)
	h.node(3).n.PeerUp(1)
	h.process(3)
	pages := 0
	h.drop = func(m Message) bool {
		if m.Type == MsgPage && m.From == 2 {
			pages++
			return pages > 1
		}
		return false
	}
	h.stabilize()
	h.drop = nil
	// The peer restarts as a client of a new generation: its snapshot
	// is released, so the next PAGE_REQ gets NotAvail.
	h.master(1)
	h.stabilize()
	if h.node(2).n.sv.snap != nil {
		t.Fatal("peer kept its snapshot across a role change")
	}
	h.tick(4 * DefaultConfig().RequestMinTicks)
	h.requireDataEqual(1, 3)
	h.requireEvent(3, EventStartupDone)
}
