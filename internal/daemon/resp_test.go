package daemon

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRESPConfig(t *testing.T) {
	// Off by default, with its defaults.
	c, err := LoadConfig(base, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.RESP != "" || c.RESPBucket != "redis" || c.RESPMaxConns != 1024 || c.RESPIdleTimeout != 10*time.Minute {
		t.Fatalf("RESP defaults: %q %q %d %v", c.RESP, c.RESPBucket, c.RESPMaxConns, c.RESPIdleTimeout)
	}
	// Flags and TOML agree.
	flags := append(append([]string{}, base...), "--peers", "2=h:1", "--resp", "127.0.0.1:6379", "--resp-peers", "2=h:6379",
		"--resp-bucket", "kv", "--resp-max-conns", "10", "--resp-idle-timeout", "30s")
	toml := baseTOML + "peers = \"2=h:1\"\nresp = \"127.0.0.1:6379\"\nresp-peers = \"2=h:6379\"\nresp-bucket = \"kv\"\nresp-max-conns = 10\nresp-idle-timeout = \"30s\"\n"
	fromFlags, err := LoadConfig(flags, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	fromTOML, err := LoadConfig([]string{"--config", writeTOML(t, toml)}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []Config{fromFlags, fromTOML} {
		if got.RESP != "127.0.0.1:6379" || !reflect.DeepEqual(got.RESPPeers, Peers{2: "h:6379"}) || got.RESPBucket != "kv" ||
			got.RESPMaxConns != 10 || got.RESPIdleTimeout != 30*time.Second {
			t.Fatalf("RESP settings: %+v", got)
		}
	}
}

func TestBadRESPConfig(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"bad address", []string{"--resp", "nohost"}, "--resp: \"nohost\""},
		{"peers self", []string{"--resp", "h:1", "--resp-peers", "1=h:2"}, "--resp-peers: lists this site's own id 1"},
		{"peers unknown site", []string{"--peers", "2=h:1", "--resp-peers", "3=h:2"}, "--resp-peers: site 3 is not in --peers"},
		{"peers syntax", []string{"--resp-peers", "2:h"}, "-resp-peers"},
		{"empty bucket", []string{"--resp-bucket", ""}, "--resp-bucket: must not be empty"},
		{"zero conns", []string{"--resp-max-conns", "0"}, "--resp-max-conns"},
		{"negative idle", []string{"--resp-idle-timeout", "-1s"}, "--resp-idle-timeout"},
		{"witness", []string{"--witness", "--resp", "h:1"}, "--resp: a witness holds no data"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--dir", "d", "--id", "1", "--listen", "h:1", "--http", "h:2"}, tc.args...)
			if !strings.Contains(strings.Join(tc.args, " "), "--witness") {
				args = append(args, "--master")
			}
			_, err := LoadConfig(args, io.Discard)
			var ue UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a UsageError naming %q", err, tc.want)
			}
		})
	}
}
