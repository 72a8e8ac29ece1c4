package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"logship/internal/testwait"
)

// TestGroupSecretProcess: three repnode processes without TLS; the
// master and site 2 share --group-secret-file, site 3 has another
// secret. Site 2 replicates; site 3 claims a configured id but gets no
// data, and both the master and site 3 log why.
func TestGroupSecretProcess(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	secret := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, wrong := secret("group", "4f1c0d2e9a7b6c5d4e3f2a1b0c9d8e7f"), secret("other", "00000000000000000000000000000000")
	g := newGroup(t, 3)
	m := startProc(t, bin, g.http[1], append(g.args(1, t.TempDir()), "--group-secret-file", good, "--master", "--ack", "one")...)
	c2 := startProc(t, bin, g.http[2], append(g.args(2, t.TempDir()), "--group-secret-file", good, "--client", "--master-id", "1")...)
	c3 := startProc(t, bin, g.http[3], append(g.args(3, t.TempDir()), "--group-secret-file", wrong, "--client", "--master-id", "1")...)

	at := putKeys(t, m, "s", 10)
	if !hasKeys(t, c2, "s", 10, at) {
		t.Fatalf("site 2 (the group's secret) lacks the writes\n%s", c2.log())
	}
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "site 3 refuses the master's connection and logs why", func() bool {
		return strings.Contains(c3.log(), "does not know this group's secret")
	})
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "the master logs why it cannot connect to site 3", func() bool {
		return strings.Contains(m.log(), "group secret not proven")
	})
	for _, s := range status(t, m).Sites {
		if s.ID == 3 && s.Connected {
			t.Error("master shows site 3 (wrong secret) connected")
		}
	}
	if code, _, _ := do(t, "GET", "http://"+c3.http+"/v1/kv/b/s0", ""); code == 200 {
		t.Fatal("site 3, with the wrong secret, received data")
	}
	if v := metric(t, c3, "logship_log_records_received_total"); v > 0 {
		t.Errorf("site 3 received %v log records", v)
	}

	// A reload lets site 3 in without a restart: its file now also
	// holds the group's secret (the first line is still the one it
	// proves), and the master, which dials it, proves the group's.
	secret("other", "00000000000000000000000000000000\n4f1c0d2e9a7b6c5d4e3f2a1b0c9d8e7f")
	if err := c3.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testwait.Poll(t, 15*time.Second, 50*time.Millisecond, "the master connected to site 3 after its reload", func() bool {
		for _, s := range status(t, m).Sites {
			if s.ID == 3 && s.Connected {
				return true
			}
		}
		return false
	})
	if !hasKeys(t, c3, "s", 10, at) {
		t.Fatalf("site 3 lacks the writes after its reload\n%s", c3.log())
	}
	if !strings.Contains(c3.log(), "reload: group secret reloaded") {
		t.Errorf("site 3's log does not say the group secret was reloaded:\n%s", c3.log())
	}
	m.running(t)
	c3.running(t)
}

// TestTLSIDFromProcess: mutual TLS with --tls-id-from cn; site 3 holds a
// certificate from the group's CA that names site 2. It is refused
// (the log says the certificate names another site) and gets no data,
// while site 2 replicates.
func TestTLSIDFromProcess(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	ca := newTestCA(t)
	caFile, err := ca.WriteCA(dir, "ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	tlsArgs := func(name string) []string {
		cert, key, err := ca.WriteSite(t.TempDir(), name)
		if err != nil {
			t.Fatal(err)
		}
		return []string{"--tls-cert", cert, "--tls-key", key, "--tls-ca", caFile, "--tls-id-from", "cn"}
	}
	g := newGroup(t, 3)
	m := startProc(t, bin, g.http[1], append(append(g.args(1, t.TempDir()), tlsArgs("site-1")...), "--master", "--ack", "one")...)
	c2 := startProc(t, bin, g.http[2], append(append(g.args(2, t.TempDir()), tlsArgs("site-2")...), "--client", "--master-id", "1")...)
	c3 := startProc(t, bin, g.http[3], append(append(g.args(3, t.TempDir()), tlsArgs("site-2")...), "--client", "--master-id", "1")...)

	at := putKeys(t, m, "s", 10)
	if !hasKeys(t, c2, "s", 10, at) {
		t.Fatalf("site 2 lacks the writes\n%s", c2.log())
	}
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "the master logs why site 3 is refused", func() bool {
		return strings.Contains(m.log(), "claims site 3 but the certificate names another site")
	})
	if code, _, _ := do(t, "GET", "http://"+c3.http+"/v1/kv/b/s0", ""); code == 200 {
		t.Fatal("site 3, with a certificate naming site 2, received data")
	}
	if v := metric(t, c3, "logship_log_records_received_total"); v > 0 {
		t.Errorf("site 3 received %v log records", v)
	}
}
