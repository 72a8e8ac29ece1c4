package daemon

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// joinBase is a valid command line of a joining site: no --peers.
var joinBase = []string{"--dir", "/tmp/d", "--id", "4", "--listen", "127.0.0.1:7004", "--http", "127.0.0.1:8004"}

func TestJoinFlags(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	loose := filepath.Join(t.TempDir(), "loose")
	if err := os.WriteFile(loose, []byte("0123456789abcdef0123\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(append(joinBase, "--join", "127.0.0.1:8001, 127.0.0.1:8002", "--join-token-file", tok, "--client"), io.Discard)
	if err != nil {
		t.Fatalf("valid --join: %v", err)
	}
	if got := cfg.JoinAddrs(); !reflect.DeepEqual(got, []string{"127.0.0.1:8001", "127.0.0.1:8002"}) {
		t.Fatalf("JoinAddrs %q", got)
	}
	toml := writeTOML(t, "dir = \"/tmp/d\"\nid = 4\nlisten = \"127.0.0.1:7004\"\nhttp = \"127.0.0.1:8004\"\njoin = \"127.0.0.1:8001\"\njoin-non-voting = true\n")
	if cfg, err := LoadConfig([]string{"--config", toml}, io.Discard); err != nil || cfg.Join != "127.0.0.1:8001" || !cfg.JoinNonVoting {
		t.Fatalf("TOML join: %+v %v", cfg.Join, err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--join", "nohost"}, "--join: \"nohost\""},
		{[]string{"--join", "0.0.0.0:8001"}, "--join: \"0.0.0.0:8001\""},
		{[]string{"--join", "127.0.0.1:8001", "--peers", "1=127.0.0.1:7001"}, "--join: a joining site learns the members"},
		{[]string{"--join", "127.0.0.1:8001", "--master"}, "--join: a joining site starts as a non-voting client"},
		{[]string{"--join", "127.0.0.1:8001", "--join-token-file", loose}, "--join-token-file:"},
		{[]string{"--join-token-file", tok}, "--join-token-file: only meaningful with --join"},
		{[]string{"--join-non-voting"}, "--join-non-voting: only meaningful with --join"},
	} {
		_, err := LoadConfig(append(append([]string{}, joinBase...), tc.args...), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	// --listen on every interface: the members could not dial it.
	args := []string{"--dir", "/tmp/d", "--id", "4", "--listen", "0.0.0.0:7004", "--http", "127.0.0.1:8004", "--join", "127.0.0.1:8001"}
	if _, err := LoadConfig(args, io.Discard); err == nil || !strings.Contains(err.Error(), "--listen") {
		t.Errorf("--join with --listen 0.0.0.0: %v", err)
	}
}
