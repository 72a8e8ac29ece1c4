package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"

	"logship/cmd/internal/api"
)

// call sends a request to the node's HTTP API (body nil: empty), decodes a
// 200 answer into out (if not nil), and turns failures into messages that
// say what to check.
func call(method, node, path string, body, out any) error {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+node+path, rd)
	if err != nil {
		return fmt.Errorf("--node %q: %w", node, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach repnode at %s: %v (is it running, and is --node its --http address?)", node, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("%s%s: read answer: %w", node, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e api.ErrorBody
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s%s: %s: %s", node, path, resp.Status, e.Error)
		}
		return fmt.Errorf("%s%s: %s", node, path, resp.Status)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s%s: not a repnode answer: %w", node, path, err)
		}
	}
	return nil
}

// noArgs parses a subcommand that takes only the given flags.
func noArgs(name string, args []string, stderr io.Writer, define func(*flag.FlagSet)) error {
	fs := flag.NewFlagSet("repadmin "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if define != nil {
		define(fs)
	}
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", name, fs.Arg(0))}
	}
	return nil
}

// runSync starts a delayed client's synchronisation now, or (with --delay
// or --no-delay) sets whether the site delays its sync with a new master.
func runSync(node string, args []string, stdout, stderr io.Writer) error {
	var delay, noDelay bool
	if err := noArgs("sync", args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&delay, "delay", false, "make the site wait for 'repadmin sync' before syncing with a new master")
		fs.BoolVar(&noDelay, "no-delay", false, "make the site sync with a new master at once")
	}); err != nil {
		return err
	}
	var body any
	switch {
	case delay && noDelay:
		return usageError{"sync: --delay and --no-delay contradict each other"}
	case delay || noDelay:
		body = map[string]bool{"delay": delay}
	}
	if err := call(http.MethodPost, node, "/v1/admin/sync", body, nil); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	switch {
	case body == nil:
		fmt.Fprintf(stdout, "sync started on %s\n", node)
	case delay:
		fmt.Fprintf(stdout, "%s now delays its sync with a new master until 'repadmin sync'\n", node)
	default:
		fmt.Fprintf(stdout, "%s now syncs with a new master at once\n", node)
	}
	return nil
}

func runElect(node string, args []string, stdout, stderr io.Writer) error {
	if err := noArgs("elect", args, stderr, nil); err != nil {
		return err
	}
	if err := call(http.MethodPost, node, "/v1/admin/elect", nil, nil); err != nil {
		return fmt.Errorf("elect: %w", err)
	}
	fmt.Fprintf(stdout, "election called from %s; 'repadmin status' shows the outcome\n", node)
	return nil
}

func runTransfer(node string, args []string, stdout, stderr io.Writer) error {
	var to uint64
	if err := noArgs("transfer", args, stderr, func(fs *flag.FlagSet) {
		fs.Uint64Var(&to, "to", 0, "the site to hand mastership to")
	}); err != nil {
		return err
	}
	if to == 0 {
		return usageError{"transfer: --to SITE is required"}
	}
	if err := call(http.MethodPost, node, "/v1/admin/transfer", map[string]uint64{"to": to}, nil); err != nil {
		return fmt.Errorf("transfer: %w", err)
	}
	fmt.Fprintf(stdout, "mastership handed to site %d\n", to)
	return nil
}

func runArchive(node string, args []string, stdout, stderr io.Writer) error {
	if err := noArgs("archive", args, stderr, nil); err != nil {
		return err
	}
	var out struct {
		Checkpoint string   `json:"checkpoint_lsn"`
		KeepFrom   string   `json:"keep_from"`
		Removed    []string `json:"removed"`
	}
	if err := call(http.MethodPost, node, "/v1/admin/archive", nil, &out); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	fmt.Fprintf(stdout, "checkpoint at %s; log kept from %s; %d log file(s) removed\n", out.Checkpoint, out.KeepFrom, len(out.Removed))
	for _, f := range out.Removed {
		fmt.Fprintf(stdout, "  removed %s\n", f)
	}
	return nil
}
