package daemon

import (
	"errors"
	"flag"
	"io"
	"logship/env/site"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// base is the minimum valid command line.
var base = []string{"--dir", "/tmp/d", "--id", "1", "--listen", "127.0.0.1:7001", "--http", "127.0.0.1:8001", "--master"}

const baseTOML = `dir = "/tmp/d"
id = 1
listen = "127.0.0.1:7001"
http = "127.0.0.1:8001"
master = true
`

func writeTOML(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "repnode.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFlagsAndTOMLAgree: every setting given as flags and as TOML keys
// gives the same Config.
func TestFlagsAndTOMLAgree(t *testing.T) {
	cases := []struct {
		name  string
		flags []string
		toml  string
		check func(Config) bool
	}{
		{"defaults", nil, "", func(c Config) bool {
			return c.Ack == "quorum" && c.Priority == 100 && c.LogKeepBytes == 1<<30 && c.Heartbeat == 0 && c.ElectionTimeout == 500*time.Millisecond && c.Group == "logship"
		}},
		{"peers", []string{"--peers", "2=127.0.0.1:7002,3=127.0.0.1:7003"}, `peers = "2=127.0.0.1:7002,3=127.0.0.1:7003"`, func(c Config) bool {
			return reflect.DeepEqual(c.Peers, Peers{2: "127.0.0.1:7002", 3: "127.0.0.1:7003"})
		}},
		{"ack and priority", []string{"--ack", "all_peers", "--priority", "0"}, "ack = \"all_peers\"\npriority = 0", func(c Config) bool {
			return c.Ack == "all_peers" && c.Priority == 0
		}},
		{"client options", []string{"--peers", "2=h:1,3=h:2", "--peer", "3", "--delay-client", "--no-wait", "--no-auto-init"},
			"peers = \"2=h:1,3=h:2\"\npeer = 3\ndelay-client = true\nno-wait = true\nno-auto-init = true",
			func(c Config) bool { return c.Peer == 3 && c.DelayClient && c.NoWait && c.NoAutoInit }},
		{"log files", []string{"--log-file-size", "4194304", "--auto-remove-logs", "--checkpoint-interval", "30s", "--log-keep-bytes", "8388608"},
			"log-file-size = 4194304\nauto-remove-logs = true\ncheckpoint-interval = \"30s\"\nlog-keep-bytes = 8388608",
			func(c Config) bool {
				return c.LogFileSize == 4<<20 && c.AutoRemoveLogs && c.CheckpointInterval == 30*time.Second &&
					c.EnvConfig().CheckpointInterval == 30*time.Second && c.LogKeepBytes == 8<<20 && c.EnvConfig().LogKeepBytes == 8<<20
			}},
		{"timeouts", []string{"--heartbeat", "200ms", "--heartbeat-monitor", "1s", "--ack-timeout", "300ms", "--request-min", "10ms", "--request-max", "500ms", "--election-timeout", "700ms"},
			"heartbeat = \"200ms\"\nheartbeat-monitor = \"1s\"\nack-timeout = \"300ms\"\nrequest-min = \"10ms\"\nrequest-max = \"500ms\"\nelection-timeout = \"700ms\"",
			func(c Config) bool {
				return c.Heartbeat == 200*time.Millisecond && c.HeartbeatMonitor == time.Second && c.AckTimeout == 300*time.Millisecond &&
					c.RequestMin == 10*time.Millisecond && c.RequestMax == 500*time.Millisecond && c.ElectionTimeout == 700*time.Millisecond
			}},
		{"rollback limit", []string{"--max-rollback-bytes", "65536"}, "max-rollback-bytes = 65536", func(c Config) bool {
			sc, err := c.SiteConfig(nil)
			return c.MaxRollbackBytes == 64<<10 && err == nil && sc.MaxRollbackBytes == 64<<10
		}},
		{"throttle", []string{"--bulk-bytes", "65536", "--no-bulk", "--throttle-bytes", "1048576", "--gap-buffer-bytes", "131072",
			"--init-chunk-bytes", "1048576", "--init-retain-max-bytes", "0"},
			"bulk-bytes = 65536\nno-bulk = true\nthrottle-bytes = 1048576\ngap-buffer-bytes = 131072\ninit-chunk-bytes = 1048576\ninit-retain-max-bytes = 0",
			func(c Config) bool {
				sc, err := c.SiteConfig(nil)
				want := site.Throttle{BulkBytes: 64 << 10, NoBulk: true, ThrottleBytes: 1 << 20, GapBufferBytes: 128 << 10,
					InitChunkBytes: 1 << 20, InitRetainMaxBytes: -1}
				return err == nil && sc.Throttle == want
			}},
		{"group and logs", []string{"--group", "g1", "--log-format", "json", "--log-level", "debug"}, "group = \"g1\"\nlog-format = \"json\"\nlog-level = \"debug\"",
			func(c Config) bool { return c.Group == "g1" && c.LogFormat == "json" && c.LogLevel == "debug" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fromFlags, err := LoadConfig(append(append([]string{}, base...), tc.flags...), io.Discard)
			if err != nil {
				t.Fatalf("flags: %v", err)
			}
			fromTOML, err := LoadConfig([]string{"--config", writeTOML(t, baseTOML+tc.toml+"\n")}, io.Discard)
			if err != nil {
				t.Fatalf("toml: %v", err)
			}
			if !reflect.DeepEqual(fromFlags, fromTOML) {
				t.Fatalf("flags and TOML disagree:\nflags %+v\ntoml  %+v", fromFlags, fromTOML)
			}
			if !tc.check(fromFlags) {
				t.Fatalf("unexpected config %+v", fromFlags)
			}
		})
	}
}

func TestFlagsOverrideTOML(t *testing.T) {
	p := writeTOML(t, baseTOML+"ack = \"one\"\npriority = 7\n")
	c, err := LoadConfig([]string{"--config", p, "--ack", "all"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Ack != "all" || c.Priority != 7 {
		t.Fatalf("ack %q priority %d: want all (flag) and 7 (file)", c.Ack, c.Priority)
	}
}

// TestBadConfig: every bad setting is a UsageError naming the flag.
func TestBadConfig(t *testing.T) {
	cases := []struct {
		name string
		args []string
		toml string // used instead of args when set
		want string
	}{
		{"no dir", []string{"--id", "1", "--listen", "h:1", "--http", "h:2"}, "", "--dir"},
		{"no id", []string{"--dir", "d", "--listen", "h:1", "--http", "h:2"}, "", "--id"},
		{"bad listen", append(append([]string{}, base...), "--listen", "nohost"), "", "--listen"},
		{"bad ack", append(append([]string{}, base...), "--ack", "most"), "", "--ack"},
		{"negative checkpoint interval", append(append([]string{}, base...), "--checkpoint-interval", "-1s"), "", "--checkpoint-interval"},
		{"negative log keep", append(append([]string{}, base...), "--log-keep-bytes", "-1"), "", "--log-keep-bytes"},
		{"bad peers syntax", append(append([]string{}, base...), "--peers", "2:h:1"), "", "-peers"},
		{"peers zero id", append(append([]string{}, base...), "--peers", "0=h:1"), "", "-peers"},
		{"peers self", append(append([]string{}, base...), "--peers", "1=h:1"), "", "--peers"},
		{"peer not in peers", append(append([]string{}, base...), "--peers", "2=h:1", "--peer", "5"), "", "--peer: site 5 is not in --peers"},
		{"master-id not in peers", []string{"--dir", "d", "--id", "1", "--listen", "h:1", "--http", "h:2", "--client", "--peers", "2=h:3", "--master-id", "4"}, "", "--master-id"},
		{"client without peers", []string{"--dir", "d", "--id", "1", "--listen", "h:1", "--http", "h:2", "--client"}, "", "--client"},
		{"master and client", append(append([]string{}, base...), "--client", "--peers", "2=h:1"), "", "--master"},
		{"bad duration", append(append([]string{}, base...), "--heartbeat", "soon"), "", "-heartbeat"},
		{"negative heartbeat", append(append([]string{}, base...), "--heartbeat", "-1s"), "", "--heartbeat"},
		{"monitor below heartbeat", append(append([]string{}, base...), "--heartbeat", "1s", "--heartbeat-monitor", "500ms"), "", "--heartbeat-monitor"},
		{"zero timeout", append(append([]string{}, base...), "--ack-timeout", "0s"), "", "--ack-timeout"},
		{"request min>max", append(append([]string{}, base...), "--request-min", "2s", "--request-max", "1s"), "", "--request-max"},
		{"negative rollback limit", append(append([]string{}, base...), "--max-rollback-bytes", "-1"), "", "--max-rollback-bytes"},
		{"chunk too big", append(append([]string{}, base...), "--init-chunk-bytes", "1073741824"), "", "--init-chunk-bytes"},
		{"zero throttle", append(append([]string{}, base...), "--throttle-bytes", "0"), "", "--throttle-bytes"},
		{"bulk beyond a frame", append(append([]string{}, base...), "--bulk-bytes", "1073741824"), "", "--bulk-bytes"},
		{"tiny log file", append(append([]string{}, base...), "--log-file-size", "10"), "", "--log-file-size"},
		// Found by the simulator drawing daemon configurations: the flags
		// passed, and the election core refused them at start.
		{"lease shorter than two heartbeats", []string{"--dir", "d", "--id", "1", "--listen", "h:1", "--http", "h:2", "--peers", "2=h:3",
			"--leases", "--heartbeat", "200ms", "--lease-timeout", "300ms"}, "", "--lease-timeout: 300ms is too short for --heartbeat 200ms"},
		{"partial tls", append(append([]string{}, base...), "--tls-cert", "c.pem"), "", "--tls-cert"},
		{"bad log format", append(append([]string{}, base...), "--log-format", "xml"), "", "--log-format"},
		{"unknown flag", append(append([]string{}, base...), "--frobnicate"), "", "-frobnicate"},
		{"positional", append(append([]string{}, base...), "extra"), "", "extra"},
		{"toml bad ack", nil, baseTOML + "ack = \"most\"\n", "--ack"},
		{"toml unknown key", nil, baseTOML + "colour = \"red\"\n", "colour"},
		{"toml bad peers", nil, baseTOML + "peers = \"2=nohost\"\n", "peers"},
		{"toml wrong type", nil, baseTOML + "priority = \"high\"\n", "priority"},
		{"missing config file", []string{"--config", "/nonexistent/repnode.toml"}, "", "--config"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.toml != "" {
				args = []string{"--config", writeTOML(t, tc.toml)}
			}
			_, err := LoadConfig(args, io.Discard)
			var ue UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v, want a UsageError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %q, want it to name %q", err, tc.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var out strings.Builder
	_, err := LoadConfig([]string{"--help"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"-ack-timeout", "(default 1s)", "-request-max", "(default 1.28s)", "-heartbeat", "-election-timeout", "-peers", "(default \"quorum\")"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

func TestClientMaster(t *testing.T) {
	c := Config{Peers: Peers{3: "h:3", 2: "h:2"}}
	if got := c.ClientMaster(); got != 2 {
		t.Fatalf("ClientMaster = %d, want the lowest peer 2", got)
	}
	c.MasterID = 3
	if got := c.ClientMaster(); got != 3 {
		t.Fatalf("ClientMaster = %d, want --master-id 3", got)
	}
}
