package daemon

import (
	"io"
	"strings"
	"testing"
)

// A duration written as a bare number is refused, naming the key and
// the fix, instead of being read as nanoseconds.
func TestTOMLBareDurationIsRefused(t *testing.T) {
	for _, c := range []struct{ toml, want string }{
		{"heartbeat = 100", `heartbeat = 100: write a duration like "100ms"`},
		{"election-timeout = 500\nvote-wait = \"100ms\"", `election-timeout = 500: write a duration like "500ms"`},
		{"read-timeout = 1.5", `"read-timeout"`}, // toml itself refuses a float, naming the key
	} {
		_, err := LoadConfig([]string{"--config", writeTOML(t, baseTOML+c.toml+"\n")}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want it to say %q", c.toml, err, c.want)
		}
	}
	cfg, err := LoadConfig([]string{"--config", writeTOML(t, baseTOML+"heartbeat = \"100ms\"\n")}, io.Discard)
	if err != nil || cfg.Heartbeat.Milliseconds() != 100 {
		t.Fatalf("heartbeat = \"100ms\": %v, %v", cfg.Heartbeat, err)
	}
}

// The example config in docs/examples parses, validates, and says what
// it shows.
func TestExampleConfigLoads(t *testing.T) {
	cfg, err := LoadConfig([]string{"--config", "../../docs/examples/repnode.toml"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ID != 1 || len(cfg.Peers) != 2 || cfg.Mode() != ModeElect || cfg.AdvertisedHTTP() != "10.0.0.1:8080" ||
		cfg.ReadyMaxLagBytes != 16<<20 || cfg.ElectionTimeout.String() != "500ms" {
		t.Fatalf("example config read as %+v", cfg)
	}
}

func TestAdvertisedHTTP(t *testing.T) {
	for _, c := range []struct {
		http, advertise, want string
	}{
		{"127.0.0.1:8001", "", "127.0.0.1:8001"},
		{"0.0.0.0:8001", "", ""},
		{":8001", "", ""},
		{"[::]:8001", "", ""},
		{"0.0.0.0:8001", "db1.example:8001", "db1.example:8001"},
	} {
		if got := (Config{HTTP: c.http, AdvertiseHTTP: c.advertise}).AdvertisedHTTP(); got != c.want {
			t.Errorf("--http %s --advertise-http %q: advertised %q, want %q", c.http, c.advertise, got, c.want)
		}
	}
	for _, bad := range []string{"nohost", "0.0.0.0:80", ":80", "h:0"} {
		_, err := LoadConfig(append(append([]string{}, base...), "--advertise-http", bad), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--advertise-http") {
			t.Errorf("--advertise-http %q: %v", bad, err)
		}
	}
	if _, err := LoadConfig(append(append([]string{}, base...), "--ready-max-lag-bytes", "-1"), io.Discard); err == nil ||
		!strings.Contains(err.Error(), "--ready-max-lag-bytes") {
		t.Errorf("--ready-max-lag-bytes -1: %v", err)
	}
}
