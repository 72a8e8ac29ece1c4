package main

import (
	"context"
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

// noArgs parses a subcommand that takes only the given flags (and the
// global ones).
func noArgs(g *globals, name string, args []string, define func(*flag.FlagSet)) error {
	fs := flag.NewFlagSet("repadmin "+name, flag.ContinueOnError)
	if define != nil {
		define(fs)
	}
	if err := g.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", name, fs.Arg(0))}
	}
	return nil
}

// runSync starts a delayed client's synchronisation now, or (with --delay
// or --no-delay) sets whether the site delays its sync with a new master.
func runSync(g *globals, args []string) error {
	var delay, noDelay, wait bool
	opt := waitOptions{BarWidth: 30}
	if err := noArgs(g, "sync", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&delay, "delay", false, "make the site wait for 'repadmin sync' before syncing with a new master")
		fs.BoolVar(&noDelay, "no-delay", false, "make the site sync with a new master at once")
		fs.BoolVar(&wait, "wait", false, "then show progress until the client has caught up with its master, following (and syncing with) a new one")
		fs.DurationVar(&opt.Timeout, "timeout", 10*time.Minute, "with --wait: give up (exit 1) after this long; 0 waits forever")
		fs.DurationVar(&opt.Interval, "interval", 500*time.Millisecond, "with --wait: time between polls")
	}); err != nil {
		return err
	}
	node, stdout := g.node, g.stdout
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
	var answer map[string]any
	if err := call(http.MethodPost, node, "/v1/admin/sync", body, &answer); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	switch {
	case wait:
		w := stdout
		if g.json {
			w = io.Discard // the JSON answer is the status once caught up
		} else {
			fmt.Fprintf(stdout, "sync started on %s; waiting until it has caught up with its master, following any new one\n", node)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		opt.TTY = !g.json && isTerminal(stdout)
		if err := waitCaughtUp(ctx, node, st, opt, w); err != nil {
			return fmt.Errorf("sync --wait: %w", err)
		}
		if g.json {
			if err := call(http.MethodGet, node, "/v1/status", nil, &st); err != nil {
				return fmt.Errorf("sync --wait: %w", err)
			}
			return printJSON(stdout, st)
		}
	case g.json:
		return printJSON(stdout, answer)
	case body == nil:
		fmt.Fprintf(stdout, "sync started on %s\n", node)
	case delay:
		fmt.Fprintf(stdout, "%s now delays its sync with a new master until 'repadmin sync'\n", node)
	default:
		fmt.Fprintf(stdout, "%s now syncs with a new master at once\n", node)
	}
	return nil
}

func runPriority(g *globals, args []string) error {
	set := -1
	if err := noArgs(g, "priority", args, func(fs *flag.FlagSet) {
		fs.IntVar(&set, "set", -1, "the new priority (0 = never master)")
	}); err != nil {
		return err
	}
	if set < 0 || set > 1<<32-1 {
		return usageError{"priority: --set N is required, 0 to 4294967295"}
	}
	var answer map[string]any
	if err := call(http.MethodPost, g.node, "/v1/admin/priority", map[string]int{"priority": set}, &answer); err != nil {
		return fmt.Errorf("priority: %w", err)
	}
	if g.json {
		return printJSON(g.stdout, answer)
	}
	fmt.Fprintf(g.stdout, "priority of %s set to %d; it applies from the next election\n", g.node, set)
	return nil
}

// verifyTimeout bounds POST /v1/admin/verify, which reads the whole data
// file.
const verifyTimeout = 30 * time.Minute

// runVerify has the site read every key of its data file and check it
// against the digest kept from its log; on a master it then lists the
// sites whose reported digest differs from the master's. Damage found
// exits 1.
func runVerify(g *globals, args []string) error {
	if err := noArgs(g, "verify", args, nil); err != nil {
		return err
	}
	node, stdout := g.node, g.stdout
	var c api.DataCheck
	if err := callWithin(verifyTimeout, http.MethodPost, node, "/v1/admin/verify", nil, &c); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	var st api.Status
	if err := call(http.MethodGet, node, "/v1/status", nil, &st); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	type siteCheck struct {
		ID              uint64 `json:"id"`
		AppliedLSN      string `json:"applied_lsn"`
		DataMismatchLSN string `json:"data_mismatch_lsn,omitempty"`
	}
	var sites []siteCheck
	bad := 0
	if st.Role == "master" {
		for _, s := range st.Sites {
			if s.Witness {
				continue
			}
			sites = append(sites, siteCheck{s.ID, s.AppliedLSN, s.DataMismatchLSN})
			if s.DataMismatchLSN != "" {
				bad++
			}
		}
	}
	if g.json {
		if err := printJSON(stdout, struct {
			api.DataCheck
			Sites []siteCheck `json:"sites,omitempty"`
		}{c, sites}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "%s: data file sound: %d keys as of %s, digest %s\n", node, c.Keys, c.AppliedLSN, c.Digest)
		for _, s := range sites {
			if s.DataMismatchLSN != "" {
				fmt.Fprintf(stdout, "site %d: its data differs from the master's after %s: damaged or diverged; rebuild it\n", s.ID, s.DataMismatchLSN)
			} else {
				fmt.Fprintf(stdout, "site %d: no difference reported (applied %s)\n", s.ID, s.AppliedLSN)
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("verify: %d site(s) hold data that differs from the master's", bad)
	}
	return nil
}
