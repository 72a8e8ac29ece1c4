package site

import (
	"context"
	"logship/env"
	"testing"
	"time"

	"logship/rep"
	"logship/rep/transport"
)

// testWitness is a witness site in a driver test.
type testWitness struct {
	id  SiteID
	dir string
	w   *Witness
	ep  *testEP
}

// stop closes the witness and its endpoint (peers see the connection go).
func (w *testWitness) stop() {
	_ = w.w.Close()
	_ = w.ep.Close()
}

// groupSites returns, for site id of group ids, the other sites with
// witness marked as a witness.
func groupSites(id SiteID, ids []SiteID, witness SiteID) []Member {
	var sites []Member
	for _, o := range ids {
		switch {
		case o == id:
		case o == witness:
			sites = append(sites, Member{ID: o, Witness: true})
		default:
			sites = append(sites, Member{ID: o})
		}
	}
	return sites
}

// startWitnessDataSite starts data site id of group ids, whose witness is
// witness (0: none), in election mode; mod adjusts the config.
func startWitnessDataSite(t *testing.T, net *testNet, id SiteID, ids []SiteID, witness SiteID, dir string, mod func(*Config)) *repSite {
	t.Helper()
	ecfg := testConfig()
	ecfg.Logger = electLogger()
	return startRepSite(t, net, id, ids, dir, ecfg, func(c *Config) {
		c.Election.On = true
		c.Sites = groupSites(id, ids, witness)
		if mod != nil {
			mod(c)
		}
	})
}

// startTestWitness starts witness id of group ids over net.
func startTestWitness(t *testing.T, net *testNet, id SiteID, ids []SiteID, dir string, mod func(*Config)) *testWitness {
	t.Helper()
	ep := net.endpoint(transport.ID(id))
	cfg := DefaultConfig()
	cfg.Transport, cfg.ID, cfg.Logger = ep, id, electLogger()
	cfg.Sites = groupSites(id, ids, id)
	if mod != nil {
		mod(&cfg)
	}
	w, err := StartWitness(dir, cfg)
	if err != nil {
		_ = ep.Close()
		t.Fatalf("witness %d: StartWitness: %v", id, err)
	}
	tw := &testWitness{id: id, dir: dir, w: w, ep: ep}
	t.Cleanup(tw.stop)
	return tw
}

// startWitnessGroup starts data sites 1 and 2 and witness 3; mod adjusts
// every site's config, the witness's included.
func startWitnessGroup(t *testing.T, net *testNet, mod func(*Config)) ([]*repSite, *testWitness) {
	t.Helper()
	ids := []SiteID{1, 2, 3}
	data := []*repSite{
		startWitnessDataSite(t, net, 1, ids, 3, t.TempDir(), mod),
		startWitnessDataSite(t, net, 2, ids, 3, t.TempDir(), mod),
	}
	return data, startTestWitness(t, net, 3, ids, t.TempDir(), mod)
}

// writable reports whether s accepts writes now, as its elect node sees it.
func writable(t *testing.T, s *repSite) bool {
	t.Helper()
	es, err := s.e.ElectStatus()
	return err == nil && es.WriteErr == nil && s.status(t).Role == rep.RoleMaster
}

// tryPut makes one write attempt, bounded in time.
func tryPut(s *repSite, key, value string, within time.Duration) (env.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	return s.e.Update(ctx, func(tx *env.Tx) error { return tx.Put("b", []byte(key), []byte(value)) })
}
