package site

import (
	"strconv"
	"testing"
	"time"

	"logship/internal/testwait"
)

func TestAddrsRoundTripAndRefuseDamage(t *testing.T) {
	for _, a := range []ClientAddrs{{}, {HTTP: "10.0.0.1:8080"}, {HTTP: "h:1", RESP: "h:6379"}} {
		got, err := decodeAddrs(encodeAddrs(a))
		if err != nil || got != a {
			t.Fatalf("%+v: decoded %+v, %v", a, got, err)
		}
	}
	b := encodeAddrs(ClientAddrs{HTTP: "h:1", RESP: "h:2"})
	for i := range len(b) - 1 {
		if _, err := decodeAddrs(b[:i]); err == nil {
			t.Errorf("a body cut to %d bytes decoded", i)
		}
	}
	// A later version's extra fields are ignored.
	if got, err := decodeAddrs(append(b, 9, 9)); err != nil || got.RESP != "h:2" {
		t.Errorf("with a trailing field: %+v %v", got, err)
	}
	long := ClientAddrs{HTTP: string(make([]byte, maxAddrLen+1))}
	if long.validate() == nil {
		t.Error("an address over 255 bytes was accepted")
	}
}

// Each site learns the others' client addresses when their connection
// comes up, and again after it comes back.
func TestSitesLearnEachOthersClientAddresses(t *testing.T) {
	net := newTestNet(t)
	ids := []SiteID{1, 2, 3}
	var sites []*repSite
	for _, id := range ids {
		sites = append(sites, startRepSite(t, net, id, ids, t.TempDir(), testConfig(), func(c *Config) {
			c.Advertise = ClientAddrs{HTTP: addrOf(id, 8000), RESP: addrOf(id, 6000)}
		}))
	}
	want := func(s *repSite) bool {
		got := s.e.PeerAddrs()
		for _, o := range ids {
			if o == s.id {
				continue
			}
			if got[o] != (ClientAddrs{HTTP: addrOf(o, 8000), RESP: addrOf(o, 6000)}) {
				return false
			}
		}
		return len(got) == len(ids)-1
	}
	for _, s := range sites {
		testwait.For(t, 10*time.Second, "every peer's addresses", func() bool { return want(s) })
	}
	// Site 3 restarts advertising a new HTTP address: the others learn it
	// when it reconnects.
	sites[2].stop()
	startRepSite(t, net, 3, ids, sites[2].dir, testConfig(), func(c *Config) {
		c.Advertise = ClientAddrs{HTTP: "new-host:9"}
	})
	testwait.For(t, 10*time.Second, "site 3's new address at site 1", func() bool {
		return sites[0].e.PeerAddrs()[3].HTTP == "new-host:9"
	})
	if st := sites[0].e.Stats(); st.BadMessages != 0 {
		t.Errorf("the addresses message counted as %d bad messages", st.BadMessages)
	}
}

func addrOf(id SiteID, base int) string {
	return "127.0.0.1:" + strconv.Itoa(base+int(id))
}
