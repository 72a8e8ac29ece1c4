package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"logship/internal/daemon"
	"logship/internal/testlog"
	"logship/internal/testpki"
	"logship/internal/testwait"
	"logship/rep/transport"
)

func newTestCA(t *testing.T) *testpki.CA {
	t.Helper()
	ca, err := testpki.NewCA("logship group CA")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func issue(t *testing.T, ca *testpki.CA, cn string, dns, uris []string) *x509.Certificate {
	t.Helper()
	der, _, err := ca.IssueSAN(cn, dns, uris)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPeerVerifierNames: under each --tls-id-from rule, a certificate
// passes only for the one site id it names, in the documented forms.
func TestPeerVerifierNames(t *testing.T) {
	ca := newTestCA(t)
	cases := []struct {
		rule      string
		cn        string
		dns, uris []string
		claim     transport.ID
		want      string // "" = accepted, else part of the error
	}{
		{"cn", "site-3", nil, nil, 3, ""},
		{"cn", "site-3", nil, nil, 2, "claims site 2 but the certificate names another site"},
		{"cn", "site-03", nil, nil, 3, "names no site"},
		{"cn", "node-3", nil, nil, 3, "names no site"},
		{"cn", "site-2", []string{"site-3"}, nil, 3, "claims site 3"}, // cn ignores SANs
		{"san", "whatever", []string{"site-3"}, nil, 3, ""},
		{"san", "whatever", nil, []string{"logship://site/3"}, 3, ""},
		{"san", "site-3", nil, nil, 3, "names no site"}, // san ignores the CN
		{"san", "x", []string{"site-3"}, []string{"logship://site/4"}, 3, "several sites"},
		{"san", "x", []string{"site-3"}, []string{"logship://site/3"}, 3, ""},
		{"san", "x", nil, []string{"logship://site/3"}, 4, "claims site 4"},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%s/%s/%v/%v/claim-%d", c.rule, c.cn, c.dns, c.uris, c.claim)
		t.Run(name, func(t *testing.T) {
			cert := issue(t, ca, c.cn, c.dns, c.uris)
			err := peerVerifier(c.rule)(c.claim, tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}})
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("err = %v, want one saying %q", err, c.want)
			}
		})
	}
	if peerVerifier("") != nil {
		t.Error("no rule must mean no VerifyPeer")
	}
}

// TestVerifyPeerRefusesWrongIDOverTCP runs three transports over real
// TCP on 127.0.0.1, with the group's CA and --tls-id-from cn as repnode
// sets it: sites 1 and 2 hold certificates naming themselves, site 3 one
// from the same CA naming site 2. Sites 1 and 2 connect; site 3 is
// refused both ways, and the refusing site logs why.
func TestVerifyPeerRefusesWrongIDOverTCP(t *testing.T) {
	ca := newTestCA(t)
	names := map[transport.ID]string{1: "site-1", 2: "site-2", 3: "site-2"}
	lns := map[transport.ID]net.Listener{}
	addrs := map[transport.ID]string{}
	for id := range names {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[id], addrs[id] = ln, ln.Addr().String()
	}
	logs := map[transport.ID]*testlog.Buffer{}
	trs := map[transport.ID]*transport.TCP{}
	for id, name := range names {
		tc, err := ca.TLSConfig(name, ca.Pool)
		if err != nil {
			t.Fatal(err)
		}
		cfg := transport.DefaultConfig()
		cfg.GroupName, cfg.SelfID, cfg.Listener = "g", id, lns[id]
		cfg.Peers = map[transport.ID]string{}
		for o, a := range addrs {
			if o != id {
				cfg.Peers[o] = a
			}
		}
		cfg.TLS, cfg.VerifyPeer = tc, peerVerifier("cn")
		cfg.ReconnectMin, cfg.ReconnectMax = 5*time.Millisecond, 50*time.Millisecond
		logs[id] = &testlog.Buffer{}
		cfg.Logger = slog.New(slog.NewTextHandler(logs[id], nil))
		tr, err := transport.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		trs[id] = tr
	}
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "sites 1 and 2 connect", func() bool { return trs[1].Connected(2) && trs[2].Connected(1) })
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "sites 1 and 2 refuse site 3", func() bool {
		return trs[1].Stats().Peers[3].DialFailures > 0 && trs[2].Stats().Peers[3].DialFailures > 0
	})
	for _, id := range []transport.ID{1, 2} {
		e := trs[id].Stats().Peers[3].LastError
		if !strings.Contains(e, transport.ErrIdentity.Error()) || !strings.Contains(e, "claims site 3 but the certificate names another site") {
			t.Errorf("site %d dialling 3: last error %q", id, e)
		}
		if trs[id].Connected(3) {
			t.Errorf("site %d connected to site 3, whose certificate names site 2", id)
		}
	}
	// Site 3 knocks at 1 and 2 on start: they refuse it as acceptors and log why.
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "site 1 logs why it refused site 3", func() bool {
		l := logs[1].String()
		return strings.Contains(l, "claims site 3 but the certificate names another site")
	})
	// Site 3, as acceptor, may see the dialler's hello before the dialler
	// checks its certificate and hangs up; it never gets a frame.
	for _, id := range []transport.ID{1, 2} {
		if ps := trs[3].Stats().Peers[id]; ps.FramesRecv != 0 || ps.BytesRecv != 0 {
			t.Errorf("site 3, peer %d: %+v", id, ps)
		}
	}
}

// TestLoadGroupSecret: the secret is the file's first line without
// surrounding white space, the other lines are secrets also accepted; a
// short one, an empty file, or one others can read, is refused.
func TestLoadGroupSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "0123456789abcdef0123456789abcdef\n", 0o600)
	b, acc, err := loadGroupSecret(daemon.Security{GroupSecretFile: good})
	if err != nil || string(b) != "0123456789abcdef0123456789abcdef" || len(acc) != 0 {
		t.Fatalf("loadGroupSecret = %q, %q, %v", b, acc, err)
	}
	two := write("two", "  next-secret-0123456789abcdef \n\n0123456789abcdef0123456789abcdef\n", 0o600)
	b, acc, err = loadGroupSecret(daemon.Security{GroupSecretFile: two})
	if err != nil || string(b) != "next-secret-0123456789abcdef" || len(acc) != 1 || string(acc[0]) != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("two secrets: loadGroupSecret = %q, %q, %v", b, acc, err)
	}
	for name, body := range map[string]string{"short": "abc\n", "short-second": "0123456789abcdef0123\nabc\n", "empty": "\n \n"} {
		if _, _, err := loadGroupSecret(daemon.Security{GroupSecretFile: write(name, body, 0o600)}); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	if _, _, err := loadGroupSecret(daemon.Security{GroupSecretFile: write("short2", "0123456789abcdef0123\nabc\n", 0o600)}); err == nil || !strings.Contains(err.Error(), "line 2 is 3 bytes") {
		t.Errorf("short second secret: %v", err)
	}
	if _, _, err := loadGroupSecret(daemon.Security{GroupSecretFile: write("open", "0123456789abcdef0123\n", 0o644)}); err == nil || !strings.Contains(err.Error(), "mode 0644") {
		t.Errorf("world-readable secret: %v", err)
	}
}
