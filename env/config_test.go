package env

import (
	"strings"
	"testing"
)

func TestDefaultConfigValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidateNamesFields(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
		want []string
	}{
		{"value size", func(c *Config) { c.MaxValueSize = 0 }, []string{"env: MaxValueSize (0) must be > 0"}},
		{"log size", func(c *Config) { c.LogFileSize = -1 }, []string{"LogFileSize (-1) must be > 0"}},
		{"value vs log", func(c *Config) { c.LogFileSize = 1 << 20; c.MaxValueSize = 1 << 20 }, []string{"MaxValueSize (1048576) too large for LogFileSize (1048576)"}},
		{"delay", func(c *Config) { c.ApplyDelay = -1 }, []string{"ApplyDelay (-1ns) must be >= 0"}},
		{"unapplied", func(c *Config) { c.MaxUnappliedBytes = 0 }, []string{"MaxUnappliedBytes (0) must be > 0"}},
		{"several", func(c *Config) { c.MaxValueSize = 0; c.MaxUnappliedBytes = 0 }, []string{"MaxValueSize", "MaxUnappliedBytes"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			before := c
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate accepted a bad config")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if c != before {
				t.Error("Validate changed the config")
			}
		})
	}
}
