package rep

import "testing"

// peerHarness: master 1, client 2, and client 3 whose peer is 2.
func peerHarness(t *testing.T) *harness {
	h := newHarness(t, 3, func(id SiteID, c *Config) {
		if id == 3 {
			c.Peer = 2
		}
	})
	h.group()
	return h
}

func TestClientGetsMissingRangeFromPeer(t *testing.T) {
	h := peerHarness(t)
	h.put(1, "a")
	h.stabilize()
	restore := h.dropType(MsgLog, 3)
	h.put(1, "b", "c")
	h.stabilize()
	restore()
	m0, p0, c0 := h.node(1).n.Stats(), h.node(2).n.Stats(), h.node(3).n.Stats()
	h.put(1, "d") // reveals the gap
	h.stabilize()
	h.requireLogsEqual(1, 3)
	if got := h.count(MsgLogReq, 3, 2); got == 0 {
		t.Fatal("no request went to the peer")
	}
	for _, m := range h.sent {
		if m.Type == MsgLogReq && m.From == 3 && m.To == 2 && !m.Anywhere {
			t.Fatal("request to the peer not marked anywhere")
		}
	}
	if p := h.node(2).n.Stats().Sub(p0); p.ClientSvcReq == 0 || p.ReqsServed == 0 || p.ClientSvcMiss != 0 {
		t.Fatalf("peer stats %+v", p)
	}
	if d := h.node(1).n.Stats().Sub(m0); d.ReqsServed != 0 {
		t.Fatalf("master served %d requests", d.ReqsServed)
	}
	if s := h.node(3).n.Stats().Sub(c0); s.Rereqs != 0 {
		t.Fatalf("rereqs = %d", s.Rereqs)
	}
}

func TestPeerThatLacksRangeSaysSoAndClientRerequestsFromMaster(t *testing.T) {
	h := peerHarness(t)
	h.put(1, "a")
	h.stabilize()
	// Neither client gets b, c: the peer cannot serve them.
	c0, p0 := h.node(3).n.Stats(), h.node(2).n.Stats()
	h.drop = func(m Message) bool { return m.Type == MsgLog && m.From == 1 && m.To != 1 && len(m.Records) == 2 }
	h.put(1, "b", "c")
	h.stabilize()
	h.drop = nil
	h.partition(1, 2) // and the peer does not learn of d either
	h.put(1, "d")
	h.stabilize()
	h.heal()
	h.requireLogsEqual(1, 3)
	if got := h.count(MsgLogNotAvail, 2, 3); got == 0 {
		t.Fatal("peer did not say it cannot serve")
	}
	if p := h.node(2).n.Stats().Sub(p0); p.ClientSvcMiss == 0 {
		t.Fatalf("peer stats %+v", p)
	}
	if s := h.node(3).n.Stats().Sub(c0); s.Rereqs != 1 {
		t.Fatalf("rereqs = %d", s.Rereqs)
	}
	if h.node(1).n.Stats().ReqsServed == 0 {
		t.Fatal("master did not serve the rereq")
	}
}

func TestUnansweredPeerRequestIsRerequestedFromMaster(t *testing.T) {
	h := peerHarness(t)
	h.node(3).n.cfg.HeartbeatTicks = 0
	h.put(1, "a")
	h.stabilize()
	restore := h.dropType(MsgLog, 3)
	h.put(1, "b")
	h.stabilize()
	restore()
	h.partition(2, 3) // the peer never answers
	c0 := h.node(3).n.Stats()
	h.put(1, "c")
	h.stabilize()
	if len(h.node(3).log.Records()) != 1 {
		t.Fatal("gap filled without anyone answering")
	}
	h.tick(DefaultConfig().RequestMinTicks)
	h.requireLogsEqual(1, 3)
	if s := h.node(3).n.Stats().Sub(c0); s.Rereqs != 1 {
		t.Fatalf("rereqs = %d", s.Rereqs)
	}
}
