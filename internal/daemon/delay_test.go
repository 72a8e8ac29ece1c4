package daemon

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// electing is a valid command line of a site that elects (no --master).
var electing = []string{"--dir", "/tmp/d", "--id", "3", "--listen", "127.0.0.1:7003", "--http", "127.0.0.1:8003",
	"--peers", "1=127.0.0.1:7001,2=127.0.0.1:7002"}

const electingTOML = `dir = "/tmp/d"
id = 3
listen = "127.0.0.1:7003"
http = "127.0.0.1:8003"
peers = "1=127.0.0.1:7001,2=127.0.0.1:7002"
`

func TestApplyDelayFlagAndTOML(t *testing.T) {
	fromFlags, err := LoadConfig(append(append([]string{}, electing...), "--apply-delay", "1h", "--priority", "0"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	fromTOML, err := LoadConfig([]string{"--config", writeTOML(t, electingTOML+"apply-delay = \"1h\"\npriority = 0\n")}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromFlags, fromTOML) {
		t.Fatalf("flags and TOML disagree:\nflags %+v\ntoml  %+v", fromFlags, fromTOML)
	}
	if fromFlags.ApplyDelay != time.Hour || fromFlags.EnvConfig().MinApplyDelay != time.Hour {
		t.Fatalf("apply delay %v, env's %v: want 1h", fromFlags.ApplyDelay, fromFlags.EnvConfig().MinApplyDelay)
	}
	if w := fromFlags.DelayWarning(); w != "" {
		t.Fatalf("warning with --priority 0: %s", w)
	}
	withPriority, err := LoadConfig(append(append([]string{}, electing...), "--apply-delay", "1h"), io.Discard)
	if err != nil {
		t.Fatalf("--apply-delay with the default priority refused: %v", err)
	}
	if w := withPriority.DelayWarning(); !strings.Contains(w, "--priority 0") {
		t.Fatalf("warning %q does not recommend --priority 0", w)
	}
	if d := DefaultConfig(); d.ApplyDelay != 0 || d.EnvConfig().MinApplyDelay != 0 || d.DelayWarning() != "" {
		t.Fatal("a site is delayed by default")
	}
}

func TestApplyDelayRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"negative", append(append([]string{}, electing...), "--apply-delay", "-1s"), "--apply-delay: -1s: must be >= 0"},
		{"master", append(append([]string{}, base...), "--apply-delay", "1h"), "--apply-delay: a delayed replica is never started as master"},
		{"witness", append(append([]string{}, electing...), "--witness", "--apply-delay", "1h"), "--apply-delay: a witness"},
		{"toml bare number", []string{"--config", ""}, "apply-delay = 3600"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if args[1] == "" {
				args = []string{"--config", writeTOML(t, electingTOML+"apply-delay = 3600\n")}
			}
			_, err := LoadConfig(args, io.Discard)
			var ue UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a UsageError naming %q", err, tc.want)
			}
		})
	}
}
