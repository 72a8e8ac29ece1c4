package transport

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
	"time"

	"logship/internal/testpki"
	"logship/internal/testwait"
)

// testCA wraps testpki.CA for this package's tests.
type testCA struct{ *testpki.CA }

func newCA(t testing.TB, name string) *testCA {
	t.Helper()
	ca, err := testpki.NewCA(name)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{ca}
}

// site issues a certificate usable as both TLS server and client, valid
// for 127.0.0.1, and returns a config trusting trust.
func (ca *testCA) site(t testing.TB, name string, trust *x509.CertPool) *tls.Config {
	t.Helper()
	c, err := ca.TLSConfig(name, trust)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTLSMutualAuth runs four sites: 2 and 3 hold certificates from the
// group's CA; 1 and 4 hold certificates from another CA (but trust the
// group's, so only the other side's check can stop them). Site 1 dials
// everyone and is refused as a client; 2 and 3 dial 4 and refuse it as a
// server. 2 and 3 talk; 1 and 4 receive nothing.
func TestTLSMutualAuth(t *testing.T) {
	checkNoLeak(t)
	group1, rogueCA := newCA(t, "group CA"), newCA(t, "rogue CA")
	sites := group(t, 4, func(c *Config) {
		switch c.SelfID {
		case 2, 3:
			c.TLS = group1.site(t, "honest", group1.Pool)
		default:
			c.TLS = rogueCA.site(t, "rogue", group1.Pool)
		}
	})
	honest2, honest3 := sites[1], sites[2]
	waitConnected(t, honest2, honest3)
	if err := honest2.Send(3, []byte("secret")); err != nil {
		t.Fatal(err)
	}
	if m := next(t, honest3); string(m.Body) != "secret" {
		t.Fatalf("got %q", m.Body)
	}
	// Wait until every rogue connection has been tried and refused, from
	// both sides, then check that nothing got through.
	testwait.For(t, 10*time.Second, "refusals", func() bool {
		return honest2.Stats().InboundRefused > 0 && honest3.Stats().InboundRefused > 0 &&
			honest2.Stats().Peers[4].DialFailures > 0 && honest3.Stats().Peers[4].DialFailures > 0 &&
			sites[0].Stats().Peers[2].DialFailures > 0 && sites[0].Stats().Peers[3].DialFailures > 0
	})
	for _, h := range []*TCP{honest2, honest3} {
		h.Broadcast([]byte("secret"))
		if h.Connected(1) || h.Connected(4) {
			t.Fatalf("site %d connected to a rogue", h.cfg.SelfID)
		}
	}
	for _, rogue := range []*TCP{sites[0], sites[3]} {
		select {
		case m := <-rogue.Recv():
			t.Fatalf("rogue site %d received %+v", rogue.cfg.SelfID, m)
		default:
		}
		for id, ps := range rogue.Stats().Peers {
			if ps.FramesRecv != 0 || ps.Connects != 0 {
				t.Fatalf("rogue site %d, peer %d: %+v", rogue.cfg.SelfID, id, ps)
			}
		}
	}
	t.Logf("site 2 dialling rogue 4: %s", honest2.Stats().Peers[4].LastError)
	t.Logf("rogue 1 dialling site 2: %s", sites[0].Stats().Peers[2].LastError)
}

func TestValidateTLS(t *testing.T) {
	c := testConfig(1, listen(t), nil)
	c.TLS = &tls.Config{}
	err := c.Validate()
	for _, want := range []string{"TLS has no certificate", "TLS.ClientCAs is nil", "TLS.RootCAs is nil"} {
		if err == nil || !contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
	c.Listener.Close()
}

// TestVerifyPeerBindsCertToID gives every site a certificate from the
// group's CA, but sites 1 and 4 hold certificates named for other sites.
// With VerifyPeer requiring CommonName "site-<id>", the impostors are
// refused both when they dial (1 -> 2, 3) and when they are dialled
// (2, 3 -> 4), with ErrIdentity on the dialling side.
func TestVerifyPeerBindsCertToID(t *testing.T) {
	checkNoLeak(t)
	ca := newCA(t, "group CA")
	verify := func(id ID, cs tls.ConnectionState) error {
		if cn := cs.PeerCertificates[0].Subject.CommonName; cn != fmt.Sprintf("site-%d", id) {
			return fmt.Errorf("certificate is for %q", cn)
		}
		return nil
	}
	sites := group(t, 4, func(c *Config) {
		name := fmt.Sprintf("site-%d", c.SelfID)
		if c.SelfID == 1 || c.SelfID == 4 {
			name = "site-2" // impersonation
		}
		c.TLS = ca.site(t, name, ca.Pool)
		c.VerifyPeer = verify
	})
	waitConnected(t, sites[1], sites[2])
	testwait.For(t, 10*time.Second, "refusals", func() bool {
		return sites[1].Stats().InboundRefused > 0 && sites[2].Stats().InboundRefused > 0 &&
			sites[1].Stats().Peers[4].DialFailures > 0 && sites[2].Stats().Peers[4].DialFailures > 0 &&
			sites[0].Stats().Peers[2].DialFailures > 0
	})
	if e := sites[1].Stats().Peers[4].LastError; !strings.Contains(e, ErrIdentity.Error()) || !strings.Contains(e, `certificate is for "site-2"`) {
		t.Fatalf("site 2 dialling 4: %q", e)
	}
	if e := sites[0].Stats().Peers[2].LastError; !strings.Contains(e, ErrIdentity.Error()) {
		t.Fatalf("site 1 dialling 2: %q", e)
	}
	for _, s := range sites {
		for _, imp := range []ID{1, 4} {
			if s.Connected(imp) {
				t.Fatalf("site %d connected to impostor %d", s.cfg.SelfID, imp)
			}
		}
	}
}

// TestSetTLSChangesTheHandshakesToCome: site 2 is told to trust another
// CA than the one the group's certificates come from. Connections up
// stay; new ones fail both ways: site 2 refuses site 1's certificate
// when 1 dials (the accepting side's pool), and refuses site 3's when it
// dials 3 (the dialling side's). Trusting the group's CA again brings
// them back. A transport without TLS cannot have it turned on, and an
// incomplete configuration changes nothing.
func TestSetTLSChangesTheHandshakesToCome(t *testing.T) {
	checkNoLeak(t)
	groupCA, otherCA := newCA(t, "group CA"), newCA(t, "other CA")
	sites := group(t, 3, func(c *Config) { c.TLS = groupCA.site(t, fmt.Sprintf("site-%d", c.SelfID), groupCA.Pool) })
	waitConnected(t, sites...)
	one, two, three := sites[0], sites[1], sites[2]
	if err := two.SetTLS(groupCA.site(t, "site-2", otherCA.Pool)); err != nil {
		t.Fatal(err)
	}
	if !two.Connected(1) || !two.Connected(3) {
		t.Fatal("SetTLS dropped connections that were up")
	}
	redial := func(from, to *TCP) {
		t.Helper()
		if err := from.RemovePeer(to.cfg.SelfID); err != nil {
			t.Fatal(err)
		}
		if err := from.AddPeer(to.cfg.SelfID, to.Addr().String()); err != nil {
			t.Fatal(err)
		}
	}
	refused := two.Stats().InboundRefused
	redial(one, two)   // 1 dials 2: 2 accepts against the other CA
	redial(two, three) // 2 dials 3: 2 verifies 3 against the other CA
	testwait.For(t, 10*time.Second, "refusals both ways", func() bool {
		return two.Stats().InboundRefused > refused && one.Stats().Peers[2].DialFailures > 0 &&
			two.Stats().Peers[3].DialFailures > 0
	})
	if two.Connected(1) || two.Connected(3) {
		t.Fatal("site 2 connected with certificates its new CA did not sign")
	}
	if e := two.Stats().Peers[3].LastError; !strings.Contains(e, "certificate") {
		t.Fatalf("site 2 dialling 3 failed with %q, want a certificate error", e)
	}

	if err := two.SetTLS(groupCA.site(t, "site-2", groupCA.Pool)); err != nil {
		t.Fatal(err)
	}
	waitConnected(t, sites...)
	if err := one.Send(2, []byte("back")); err != nil {
		t.Fatal(err)
	}
	if m := next(t, two); string(m.Body) != "back" {
		t.Fatalf("got %q", m.Body)
	}

	if err := two.SetTLS(&tls.Config{Certificates: groupCA.site(t, "site-2", groupCA.Pool).Certificates}); err == nil || !strings.Contains(err.Error(), "ClientCAs") {
		t.Fatalf("SetTLS without the CA pools: %v", err)
	}
	if err := two.SetTLS(nil); err == nil {
		t.Fatal("SetTLS(nil) turned TLS off")
	}
	plain := group(t, 1, nil)[0]
	if err := plain.SetTLS(groupCA.site(t, "site-1", groupCA.Pool)); err == nil {
		t.Fatal("SetTLS turned TLS on")
	}
}

// A TLS configuration whose GetConfigForClient turns client certificates
// off (as a per-handshake configuration built in haste might) does not
// open the port: the accepting side still requires and verifies one.
func TestGetConfigForClientCannotDropMutualAuth(t *testing.T) {
	checkNoLeak(t)
	ca := newCA(t, "group CA")
	sites := group(t, 2, func(c *Config) {
		c.TLS = ca.site(t, fmt.Sprintf("site-%d", c.SelfID), ca.Pool)
		if c.SelfID == 2 {
			lax := c.TLS.Clone()
			lax.ClientAuth = tls.NoClientCert
			c.TLS.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return lax, nil }
		}
	})
	waitConnected(t, sites...) // a site with a certificate still gets in
	refused := sites[1].Stats().InboundRefused
	conn, err := tls.Dial("tcp", sites[1].Addr().String(), &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1"})
	if err == nil {
		defer conn.Close()
		_, err = conn.Read(make([]byte, 1)) // TLS 1.3 reports the refusal here
	}
	if err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Fatalf("a client without a certificate: %v, want the handshake refused (certificate required)", err)
	}
	testwait.For(t, 10*time.Second, "the refusal counted", func() bool { return sites[1].Stats().InboundRefused > refused })
}
