package rep

import (
	"errors"
	"strings"
	"testing"
)

func TestDefaultConfigIsValidOnceIdentified(t *testing.T) {
	c := DefaultConfig()
	c.ID, c.Log = 1, NewMemLog(0)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	// ThrottleBytes is 1 MiB, not Berkeley DB's 10 MiB: a pass runs on
	// the loop that sends heartbeats (config.go).
	if c.AckPolicy != AckQuorum || !c.Bulk || c.ThrottleBytes != 1<<20 ||
		c.RequestMinTicks*TickMillis != 40 || c.RequestMaxTicks*TickMillis != 1280 ||
		c.AckTimeoutTicks*TickMillis != 1000 || c.HeartbeatTicks == 0 {
		t.Fatalf("defaults drifted from Berkeley DB's: %+v", c)
	}
}

func TestValidateNamesTheBadField(t *testing.T) {
	tests := []struct {
		name string
		mut  func(*Config)
		want string
	}{
		{"no id", func(c *Config) { c.ID = 0 }, "ID must be non-zero"},
		{"no log", func(c *Config) { c.Log = nil }, "Log must be set"},
		{"self in sites", func(c *Config) { c.Sites = []Site{{ID: 1}} }, "Sites[0].ID (1) is this site's own ID"},
		{"duplicate site", func(c *Config) { c.Sites = []Site{{ID: 2}, {ID: 2}} }, "Sites[1].ID (2) is listed twice"},
		{"unknown peer", func(c *Config) { c.Peer = 9 }, "Peer (9) is not in Sites"},
		{"request max below min", func(c *Config) { c.RequestMinTicks, c.RequestMaxTicks = 4, 2 },
			"RequestMaxTicks (2) must be >= RequestMinTicks (4)"},
		{"monitor not above heartbeat", func(c *Config) { c.HeartbeatTicks, c.HeartbeatMonitorTicks = 10, 10 },
			"HeartbeatMonitorTicks (10) must be > HeartbeatTicks (10)"},
		{"ack timeout", func(c *Config) { c.AckTimeoutTicks = 0 }, "AckTimeoutTicks (0) must be >= 1"},
		{"chunk size", func(c *Config) { c.InitChunkBytes = 0 }, "InitChunkBytes (0) must be in"},
		{"negative throttle", func(c *Config) { c.ThrottleBytes = -1 }, "ThrottleBytes (-1) must be >= 0"},
		{"policy", func(c *Config) { c.AckPolicy = 42 }, "AckPolicy (42)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.ID, c.Log = 1, NewMemLog(0)
			tt.mut(&c)
			err := c.Validate()
			if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "rep: invalid config: "+tt.want) {
				t.Fatalf("err = %v, want it to name %q", err, tt.want)
			}
		})
	}
}

func TestValidateReportsEveryBadField(t *testing.T) {
	c := DefaultConfig()
	err := c.Validate()
	if !strings.Contains(err.Error(), "ID") || !strings.Contains(err.Error(), "Log") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseAckPolicy(t *testing.T) {
	for p := AckNone; p <= AckQuorum; p++ {
		got, err := ParseAckPolicy(p.String())
		if err != nil || got != p {
			t.Fatalf("%s: %v %v", p, got, err)
		}
	}
	if _, err := ParseAckPolicy("most"); err == nil {
		t.Fatal("accepted an unknown policy")
	}
}

func TestStatsSubKeepsGauges(t *testing.T) {
	a := Stats{LogRecords: 10, LogQueuedMax: 7, Rereqs: 3}
	b := Stats{LogRecords: 4, LogQueuedMax: 5, Rereqs: 1}
	d := a.Sub(b)
	if d.LogRecords != 6 || d.Rereqs != 2 || d.LogQueuedMax != 7 {
		t.Fatalf("%+v", d)
	}
}
