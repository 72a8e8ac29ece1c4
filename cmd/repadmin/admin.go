package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"logship/cmd/internal/api"
)

// call sends a request to the node's HTTP API (body nil: empty), decodes a
// 200 answer into out (if not nil), and turns failures into messages that
// say what to check.
func call(method, node, path string, body, out any) error {
	return callWithin(httpClient.Timeout, method, node, path, body, out)
}

// transferTimeout bounds POST /v1/admin/transfer, which answers only once
// the target is master or the transfer failed (a few election timeouts).
const transferTimeout = 60 * time.Second

// callWithin is call with its own time limit.
func callWithin(limit time.Duration, method, node, path string, body, out any) error {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := newRequest(method, node, path, rd) // client.go: scheme, token
	if err != nil {
		return fmt.Errorf("--node %q: %w", node, err)
	}
	req.Header.Set("Content-Type", "application/json")
	c := *httpClient
	c.Timeout = limit
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach repnode at %s: %v (is it running, and is --node its --http address?)", node, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("%s%s: read answer: %w", node, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		herr := &httpError{Code: resp.StatusCode, msg: fmt.Sprintf("%s%s: %s", node, path, resp.Status)}
		var e api.ErrorBody
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			herr.msg += ": " + e.Error
		}
		herr.msg += authHint(resp.StatusCode)
		return herr
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s%s: not a repnode answer: %w", node, path, err)
		}
	}
	return nil
}

// httpError is an answer other than 200 OK, so a command can tell, say,
// an old repnode without an endpoint (404) from a refusal.
type httpError struct {
	Code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

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
	var delay, noDelay, wait bool
	opt := waitOptions{BarWidth: 30}
	if err := noArgs("sync", args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&delay, "delay", false, "make the site wait for 'repadmin sync' before syncing with a new master")
		fs.BoolVar(&noDelay, "no-delay", false, "make the site sync with a new master at once")
		fs.BoolVar(&wait, "wait", false, "then show progress until the client has caught up with its master, following (and syncing with) a new one")
		fs.DurationVar(&opt.Timeout, "timeout", 10*time.Minute, "with --wait: give up (exit 1) after this long; 0 waits forever")
		fs.DurationVar(&opt.Interval, "interval", 500*time.Millisecond, "with --wait: time between polls")
	}); err != nil {
		return err
	}
	var body any
	switch {
	case delay && noDelay:
		return usageError{"sync: --delay and --no-delay contradict each other"}
	case wait && (delay || noDelay):
		return usageError{"sync: --wait follows a sync; it does not go with --delay or --no-delay"}
	case wait && (opt.Interval <= 0 || opt.Timeout < 0):
		return usageError{"sync: --interval must be > 0 and --timeout >= 0"}
	case delay || noDelay:
		body = map[string]bool{"delay": delay}
	}
	var st api.Status
	if wait {
		// Name the fix before the node refuses: --wait follows a client.
		if err := call(http.MethodGet, node, "/v1/status", nil, &st); err != nil {
			return fmt.Errorf("sync: %w", err)
		}
		if st.Role != "client" {
			return fmt.Errorf("sync --wait: %w", cannotCatchUp(st))
		}
	}
	if err := call(http.MethodPost, node, "/v1/admin/sync", body, nil); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	switch {
	case wait:
		fmt.Fprintf(stdout, "sync started on %s; waiting until it has caught up with its master, following any new one\n", node)
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		opt.TTY = isTerminal(stdout)
		if err := waitCaughtUp(ctx, node, st, opt, stdout); err != nil {
			return fmt.Errorf("sync --wait: %w", err)
		}
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

func runPriority(node string, args []string, stdout, stderr io.Writer) error {
	set := -1
	if err := noArgs("priority", args, stderr, func(fs *flag.FlagSet) {
		fs.IntVar(&set, "set", -1, "the new priority (0 = never master)")
	}); err != nil {
		return err
	}
	if set < 0 || set > 1<<32-1 {
		return usageError{"priority: --set N is required, 0 to 4294967295"}
	}
	if err := call(http.MethodPost, node, "/v1/admin/priority", map[string]int{"priority": set}, nil); err != nil {
		return fmt.Errorf("priority: %w", err)
	}
	fmt.Fprintf(stdout, "priority of %s set to %d; it applies from the next election\n", node, set)
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
	if err := callWithin(transferTimeout, http.MethodPost, node, "/v1/admin/transfer", map[string]uint64{"to": to}, nil); err != nil {
		return fmt.Errorf("transfer: %w", err)
	}
	fmt.Fprintf(stdout, "mastership handed to site %d\n", to)
	return nil
}

// verifyTimeout bounds POST /v1/admin/verify, which reads the whole data
// file.
const verifyTimeout = 30 * time.Minute

// runVerify has the site read every key of its data file and check it
// against the digest kept from its log; on a master it then lists the
// sites whose reported digest differs from the master's. Damage found
// exits 1.
func runVerify(node string, args []string, stdout, stderr io.Writer) error {
	if err := noArgs("verify", args, stderr, nil); err != nil {
		return err
	}
	var c api.DataCheck
	if err := callWithin(verifyTimeout, http.MethodPost, node, "/v1/admin/verify", nil, &c); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	fmt.Fprintf(stdout, "%s: data file sound: %d keys as of %s, digest %s\n", node, c.Keys, c.AppliedLSN, c.Digest)
	var st api.Status
	if err := call(http.MethodGet, node, "/v1/status", nil, &st); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if st.Role != "master" {
		return nil
	}
	bad := 0
	for _, s := range st.Sites {
		switch {
		case s.Witness:
		case s.DataMismatchLSN != "":
			bad++
			fmt.Fprintf(stdout, "site %d: its data differs from the master's after %s: damaged or diverged; rebuild it\n", s.ID, s.DataMismatchLSN)
		default:
			fmt.Fprintf(stdout, "site %d: no difference reported (applied %s)\n", s.ID, s.AppliedLSN)
		}
	}
	if bad > 0 {
		return fmt.Errorf("verify: %d site(s) hold data that differs from the master's", bad)
	}
	return nil
}
