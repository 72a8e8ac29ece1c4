package site

import (
	"context"
	"sync"
	"testing"
	"time"

	"logship/env"
	"logship/internal/testwait"
	"logship/rep/transport"
)

// peerRecorder is a test endpoint that records the transport's peer
// changes, as transport.TCP's AddPeer and RemovePeer would make them.
type peerRecorder struct {
	*testEP
	mu      sync.Mutex
	added   map[transport.ID]string
	removed map[transport.ID]bool
}

func (p *peerRecorder) AddPeer(id transport.ID, addr string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.added[id] = addr
	return nil
}

func (p *peerRecorder) RemovePeer(id transport.ID) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.removed[id] = true
	return nil
}

func (p *peerRecorder) state(id transport.ID) (addr string, removed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.added[id], p.removed[id]
}

// TestMembersDriveTransportPeers: an added member is dialled at the
// address its record names, on every site; a removed one (here a site
// that never came up) is dropped from every site's transport once the
// removal is permanent, and the group commits without it.
func TestMembersDriveTransportPeers(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		ids := []SiteID{1, 2, 3}
		var sites []*repSite
		recs := map[SiteID]*peerRecorder{}
		for _, id := range ids {
			ecfg := testConfig()
			e, err := env.Open(t.TempDir(), ecfg)
			if err != nil {
				t.Fatal(err)
			}
			ep := &peerRecorder{testEP: net.endpoint(transport.ID(id)), added: map[transport.ID]string{}, removed: map[transport.ID]bool{}}
			recs[id] = ep
			s := &repSite{id: id, env: e, ep: ep.testEP, tr: ep, events: make(chan Event, 4096)}
			sites = append(sites, startRepSiteOn(t, s, ids, ecfg, func(c *Config) { c.Election.On = true }))
		}
		m := waitOneMaster(t, 10*time.Second, sites)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.e.AddMember(ctx, Member{ID: 4, Addr: "127.0.0.1:9"}); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, within, "every site to dial site 4", func() bool {
			for _, id := range ids {
				if addr, _ := recs[id].state(4); addr != "127.0.0.1:9" {
					return false
				}
			}
			return true
		})
		// Site 4 never came up: joining, it is not counted, and writes
		// stay permanent.
		if tok := repPut(t, m.e, "k", "v"); !tok.Permanent {
			t.Fatal("a joining site that never came up held up a commit")
		}
		if err := m.e.RemoveMember(ctx, 4); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, within, "every site to drop site 4", func() bool {
			for _, x := range sites {
				if _, gone := recs[x.id].state(4); !gone || x.e.Members().Has(4) {
					return false
				}
			}
			return true
		})
		for _, id := range []SiteID{1, 2, 3} {
			if _, gone := recs[m.id].state(transport.ID(id)); gone {
				t.Fatalf("site %d removed from the master's transport", id)
			}
		}
	})
}
