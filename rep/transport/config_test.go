package transport

import (
	"strings"
	"testing"
	"time"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestDefaultConfigValid(t *testing.T) {
	c := DefaultConfig()
	c.GroupName, c.SelfID, c.ListenAddr = "g", 1, "127.0.0.1:0"
	c.Peers = map[ID]string{2: "127.0.0.1:2"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateNamesField(t *testing.T) {
	base := DefaultConfig()
	base.GroupName, base.SelfID, base.ListenAddr = "g", 1, "x:1"
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no group", func(c *Config) { c.GroupName = "" }, "GroupName is empty"},
		{"long group", func(c *Config) { c.GroupName = strings.Repeat("g", 256) }, "GroupName is 256 bytes"},
		{"no self", func(c *Config) { c.SelfID = 0 }, "SelfID is 0"},
		{"no addr", func(c *Config) { c.ListenAddr = "" }, "ListenAddr is empty"},
		{"self peer", func(c *Config) { c.Peers = map[ID]string{1: "a:1"} }, "Peers lists SelfID (1)"},
		{"zero peer", func(c *Config) { c.Peers = map[ID]string{0: "a:1"} }, "Peers has site ID 0"},
		{"empty addr", func(c *Config) { c.Peers = map[ID]string{3: ""} }, "Peers[3] has an empty address"},
		{"dial timeout", func(c *Config) { c.DialTimeout = 0 }, "DialTimeout (0s) must be > 0"},
		{"backoff", func(c *Config) { c.ReconnectMax = time.Millisecond }, "ReconnectMax (1ms) must be >= ReconnectMin"},
		{"heartbeat", func(c *Config) { c.HeartbeatTimeout = c.HeartbeatInterval }, "HeartbeatTimeout (250ms) must be > HeartbeatInterval (250ms)"},
		{"queue", func(c *Config) { c.SendQueueLen = 0 }, "SendQueueLen (0) must be > 0"},
		{"recv queue", func(c *Config) { c.RecvQueueLen = -1 }, "RecvQueueLen (-1) must be > 0"},
		{"frame size", func(c *Config) { c.MaxFrameSize = 10 }, "MaxFrameSize (10) must be in"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.mod(&c)
			before := c
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
			if c.GroupName != before.GroupName || c.SendQueueLen != before.SendQueueLen {
				t.Fatal("Validate modified the config")
			}
			if _, err := New(c); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}

func TestStatsSub(t *testing.T) {
	prev := Stats{Peers: map[ID]PeerStats{2: {FramesSent: 3, Drops: 1, Connects: 1}}, InboundRefused: 1}
	cur := Stats{Peers: map[ID]PeerStats{
		2: {FramesSent: 10, Drops: 4, Connects: 2, Reconnects: 1, Connected: true},
		3: {FramesRecv: 5},
	}, InboundRefused: 3}
	d := cur.Sub(prev)
	if got := d.Peers[2]; got.FramesSent != 7 || got.Drops != 3 || got.Connects != 1 || got.Reconnects != 1 || !got.Connected {
		t.Fatalf("peer 2: %+v", got)
	}
	if d.Peers[3].FramesRecv != 5 || d.InboundRefused != 2 {
		t.Fatalf("%+v", d)
	}
}
