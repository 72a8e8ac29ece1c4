package elect

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func validConfig() Config {
	c := DefaultConfig()
	c.ID, c.Priority, c.Rand = 1, 1, rand.New(rand.NewPCG(1, 1))
	c.Sites = []Site{{ID: 2}, {ID: 3}}
	return c
}

func TestDefaultAndTightConfigsValidate(t *testing.T) {
	for name, base := range map[string]Config{"default": DefaultConfig(), "tight": TightConfig()} {
		c := validConfig()
		base.ID, base.Priority, base.Rand, base.Sites = c.ID, c.Priority, c.Rand, c.Sites
		base.Leases = true
		if err := base.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestValidateNamesTheBadField(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(c *Config)
		field string
	}{
		{"zero id", func(c *Config) { c.ID = 0 }, "ID"},
		{"no rand", func(c *Config) { c.Rand = nil }, "Rand"},
		{"duplicate site", func(c *Config) { c.Sites[1].ID = 2 }, "Sites[1].ID"},
		{"own id in sites", func(c *Config) { c.Sites[0].ID = 1 }, "Sites[0].ID"},
		{"nvotes below majority", func(c *Config) { c.NVotes = 1 }, "NVotes"},
		{"nvotes above size", func(c *Config) { c.NVotes = 4 }, "NVotes"},
		{"witness with priority", func(c *Config) { c.Witness = true }, "Priority"},
		{"election not longer than vote wait", func(c *Config) { c.ElectionTicks = c.VoteWaitTicks }, "ElectionTicks"},
		{"zero retry", func(c *Config) { c.RetryTicks = 0 }, "RetryTicks"},
		{"lease too short for heartbeats", func(c *Config) { c.Leases, c.LeaseTicks = true, 15 }, "LeaseTicks"},
		{"grant-after-expiry on a data site", func(c *Config) { c.GrantAfterExpiry = true }, "GrantAfterExpiry"},
		{"all witnesses", func(c *Config) {
			c.Witness, c.Priority = true, 0
			c.Sites[0].Witness, c.Sites[1].Witness = true, true
		}, "every site is a witness"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.edit(&c)
			before := c
			err := c.Validate()
			if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("Validate = %v, want ErrBadConfig naming %s", err, tt.field)
			}
			if c.NVotes != before.NVotes || c.ID != before.ID {
				t.Fatal("Validate mutated the config")
			}
		})
	}
}

func TestMinorityVotesAllowedOnlyWhenAsked(t *testing.T) {
	c := validConfig()
	c.NVotes, c.AllowMinorityVotes = 1, true
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestStatsSub(t *testing.T) {
	a := Stats{Elections: 5, ElectionsWon: 2, MsgsSent: 10}
	b := Stats{Elections: 3, ElectionsWon: 1, MsgsSent: 4}
	if d := a.Sub(b); d.Elections != 2 || d.ElectionsWon != 1 || d.MsgsSent != 6 {
		t.Fatalf("Sub = %+v", d)
	}
}

func TestStatusAndEventStrings(t *testing.T) {
	for _, s := range []string{RoleMaster.String(), EventDupMaster.String(), MsgVote1.String(), Role(9).String(), EventType(99).String(), MsgType(99).String()} {
		if s == "" {
			t.Error("empty name")
		}
	}
}
