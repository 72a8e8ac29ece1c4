package transport

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"logship/internal/testwait"
)

var (
	goodSecret  = []byte("the group's secret, 32 bytes ...")
	wrongSecret = []byte("another group's secret, also 32.")
)

// TestGroupSecretAdmitsAndRefuses: sites 1 and 2 hold the group's
// secret and talk; site 3 holds another secret and site 4 none. Without
// TLS, a site that cannot prove the secret is refused whichever side
// dials, and both sides say why.
func TestGroupSecretAdmitsAndRefuses(t *testing.T) {
	checkNoLeak(t)
	logs := map[ID]*logBuffer{}
	sites := group(t, 4, func(c *Config) {
		switch c.SelfID {
		case 1, 2:
			c.GroupSecret = goodSecret
		case 3:
			c.GroupSecret = wrongSecret
		}
		logs[c.SelfID] = newLogBuffer()
		c.Logger = slogger(logs[c.SelfID])
	})
	s1, s2, s3, s4 := sites[0], sites[1], sites[2], sites[3]
	waitConnected(t, s1, s2)
	if err := s1.Send(2, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if m := next(t, s2); string(m.Body) != "hello" {
		t.Fatalf("got %q", m.Body)
	}
	testwait.For(t, 10*time.Second, "refusals", func() bool {
		return s1.Stats().Peers[3].DialFailures > 0 && s1.Stats().Peers[4].DialFailures > 0 &&
			s2.Stats().Peers[3].DialFailures > 0 && s3.Stats().Peers[4].DialFailures > 0 &&
			s3.Stats().InboundRefused > 0 && s4.Stats().InboundRefused > 0
	})
	// The dialling side: a typed error saying the secret was not proven.
	for _, c := range []struct {
		from *TCP
		to   ID
		want string
	}{
		{s1, 3, "does not know this group's secret"},
		{s2, 3, "does not know this group's secret"},
		{s1, 4, "this site has none"},
	} {
		e := c.from.Stats().Peers[c.to].LastError
		if !strings.Contains(e, ErrAuth.Error()) || !strings.Contains(e, c.want) {
			t.Errorf("site %d dialling %d: last error %q, want %q and %q", c.from.cfg.SelfID, c.to, e, ErrAuth, c.want)
		}
	}
	// The refusing side logs the reason.
	if _, ok := logs[3].find("connection refused", "site 1 does not know this group's secret"); !ok {
		t.Errorf("site 3 did not log why it refused site 1")
	}
	if _, ok := logs[4].find("connection refused", "site 1 uses a group secret, this site has none"); !ok {
		t.Errorf("site 4 did not log why it refused site 1")
	}
	for _, s := range []*TCP{s1, s2} {
		for _, imp := range []ID{3, 4} {
			if s.Connected(imp) {
				t.Errorf("site %d connected to %d, which lacks the secret", s.cfg.SelfID, imp)
			}
		}
	}
	for _, imp := range []*TCP{s3, s4} {
		for id, ps := range imp.Stats().Peers {
			if (id == 1 || id == 2) && (ps.Connects != 0 || ps.FramesRecv != 0) {
				t.Errorf("site %d, peer %d: %+v", imp.cfg.SelfID, id, ps)
			}
		}
	}
}

// TestGroupSecretReplayRefused plays site 1 by hand against site 2: an
// honest handshake (the test knows the secret) is accepted and site 2
// proves itself in turn; the same hello and proof sent again on a new
// connection are refused, because site 2's nonce is fresh.
func TestGroupSecretReplayRefused(t *testing.T) {
	checkNoLeak(t)
	// Site 2's address book points site 1 at a listener that only
	// closes, so site 2's own knock goes nowhere.
	dead := listen(t)
	go func() {
		for {
			c, err := dead.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	cfg := testConfig(2, listen(t), map[ID]string{1: dead.Addr().String()})
	cfg.GroupSecret = goodSecret
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()

	me := hello{Version: ProtocolVersion, ID: 1, Group: "test", Nonce: bytes.Repeat([]byte{1}, nonceSize)}
	handshake := func(sendProof func(na []byte) []byte) (na []byte, answer frameType, body []byte) {
		t.Helper()
		c, err := net.Dial("tcp", tr.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(appendFrame(nil, frameHello, me.encode())); err != nil {
			t.Fatal(err)
		}
		h, err := readHandshakeHello(c)
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Nonce) != nonceSize || h.ID != 2 {
			t.Fatalf("site 2's hello %+v: want its id and a nonce", h)
		}
		if _, err := c.Write(appendFrame(nil, frameAuth, sendProof(h.Nonce))); err != nil {
			t.Fatal(err)
		}
		typ, body, err := readFrame(c, maxHandshakeFrame)
		if err != nil {
			t.Fatal(err)
		}
		return h.Nonce, typ, body
	}

	var recorded []byte
	na1, typ, body := handshake(func(na []byte) []byte {
		recorded = proof(goodSecret, fromDialer, "test", 1, 2, me.Nonce, na)
		return recorded
	})
	if typ != frameAuth || !bytes.Equal(body, proof(goodSecret, fromAcceptor, "test", 1, 2, me.Nonce, na1)) {
		t.Fatalf("honest handshake: answer type %d %q, want site 2's proof", typ, body)
	}
	testwait.For(t, 10*time.Second, "site 2 to drop the closed connection", func() bool { return !tr.Connected(1) })

	na2, typ, body := handshake(func([]byte) []byte { return recorded })
	if bytes.Equal(na1, na2) {
		t.Fatal("site 2 sent the same nonce twice")
	}
	if typ != frameReject {
		t.Fatalf("replayed proof: answer type %d, want a reject", typ)
	}
	code, reason, err := decodeReject(body)
	if err != nil || !errors.Is(code.err(), ErrAuth) || !strings.Contains(reason, "does not know this group's secret") {
		t.Fatalf("replayed proof: reject %d %q %v", code, reason, err)
	}
	// A proof for the other direction (reflection) is refused too.
	_, typ, _ = handshake(func(na []byte) []byte { return proof(goodSecret, fromAcceptor, "test", 1, 2, me.Nonce, na) })
	if typ != frameReject {
		t.Fatalf("reflected proof: answer type %d, want a reject", typ)
	}
	// The honest connection may close before site 2 registers it, so it
	// counts 0 or 1; the refused ones never count.
	if got := tr.Stats().Peers[1].Connects; got > 1 {
		t.Errorf("site 2 counted %d connections from site 1, want at most the honest one", got)
	}
}

func TestValidateGroupSecret(t *testing.T) {
	c := testConfig(1, listen(t), nil)
	c.GroupSecret = []byte("short")
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "GroupSecret is 5 bytes") {
		t.Fatalf("Validate() = %v", err)
	}
	c.Listener.Close()
}

// A rotation of the group secret without a restart, step by step as
// docs/security.md gives it, reloading one site at a time, with every
// connection redialled after each reload: every connection the steps
// allow comes up, whichever of two sites presents which secret (site 2
// moves first, so it dials site 3 with the next secret and is dialled by
// site 1 with the old one), and a site that dropped the old secret
// refuses a site that still proves it.
func TestGroupSecretRotationByReload(t *testing.T) {
	checkNoLeak(t)
	oldS, newS := goodSecret, []byte("the group's next secret, 32 b...")
	sites := group(t, 3, func(c *Config) { c.GroupSecret = oldS })
	waitConnected(t, sites...)
	redialAll := func() {
		t.Helper()
		for _, from := range sites {
			for _, to := range sites {
				if from == to {
					continue
				}
				if err := from.RemovePeer(to.cfg.SelfID); err != nil {
					t.Fatal(err)
				}
				if err := from.AddPeer(to.cfg.SelfID, to.Addr().String()); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	step := func(site int, present []byte, accepted ...[]byte) {
		t.Helper()
		if err := sites[site-1].SetGroupSecret(present, accepted); err != nil {
			t.Fatal(err)
		}
		redialAll()
		waitConnected(t, sites...)
	}
	// Out of order, site 2 presents the next secret before the others
	// accept it: site 1 still dials it with the old one, which site 2
	// accepts, and site 2 answers under the secret site 1 proved, not
	// under its own. (Site 3 does not know the next secret: site 2's
	// dial to it fails until step 1 is done.)
	if err := sites[1].SetGroupSecret(newS, [][]byte{oldS}); err != nil {
		t.Fatal(err)
	}
	redialAll()
	waitConnected(t, sites[0], sites[1])
	waitConnected(t, sites[0], sites[2])
	if err := sites[1].SetGroupSecret(oldS, nil); err != nil {
		t.Fatal(err)
	}

	// 1: accept the next secret, still present the old one.
	for id := 1; id <= 3; id++ {
		step(id, oldS, newS)
	}
	// 2: present the next secret, still accept the old one.
	for _, id := range []int{2, 1, 3} {
		step(id, newS, oldS)
	}
	// 3: drop the old secret.
	for id := 1; id <= 3; id++ {
		step(id, newS)
	}

	// A site still proving the old secret is refused now.
	one, two, three := sites[0], sites[1], sites[2]
	if err := three.SetGroupSecret(oldS, nil); err != nil {
		t.Fatal(err)
	}
	redialAll()
	testwait.For(t, 10*time.Second, "site 3 refused by both", func() bool {
		return one.Stats().Peers[3].DialFailures > 0 && two.Stats().Peers[3].DialFailures > 0
	})
	for _, s := range []*TCP{one, two} {
		if s.Connected(3) {
			t.Fatalf("site %d connected to site 3, which proves the dropped secret", s.cfg.SelfID)
		}
		if e := s.Stats().Peers[3].LastError; !strings.Contains(e, ErrAuth.Error()) {
			t.Fatalf("site %d dialling 3: last error %q, want %v", s.cfg.SelfID, e, ErrAuth)
		}
	}
	waitConnected(t, one, two)

	if err := one.SetGroupSecret(nil, nil); err == nil {
		t.Fatal("SetGroupSecret turned the group secret off")
	}
	if err := one.SetGroupSecret(newS, [][]byte{[]byte("short")}); err == nil || !strings.Contains(err.Error(), "GroupSecretsAccepted[0] is 5 bytes") {
		t.Fatalf("SetGroupSecret with a short accepted secret: %v", err)
	}
	plain := group(t, 1, nil)[0]
	if err := plain.SetGroupSecret(newS, nil); err == nil {
		t.Fatal("SetGroupSecret turned a group secret on")
	}
}
