package main

import (
	"flag"
	"fmt"
	"net/http"
	"time"

	"logship/cmd/internal/api"
)

// electResult is what elect and transfer print with --json.
type electResult struct {
	Node   string `json:"node"`
	Called bool   `json:"called"` // an election was called (or a transfer made)
	Master uint64 `json:"master,omitempty"`
	Gen    uint64 `json:"gen,omitempty"`
	Note   string `json:"note,omitempty"`
	Error  string `json:"error,omitempty"`
}

// electPoll is the time between status polls of elect --wait.
const electPoll = 100 * time.Millisecond

// runElect calls an election at the node. On the master it says so and
// calls none (Berkeley DB's rep_elect on a master is a no-op too), unless
// --force. --wait polls the node until the election ended and names the
// winner.
func runElect(g *globals, args []string) error {
	var wait, force bool
	limit := 30 * time.Second
	if err := noArgs(g, "elect", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&wait, "wait", false, "wait until the election ended, and report who won and at which generation")
		fs.BoolVar(&force, "force", false, "call an election even on the master")
		fs.DurationVar(&limit, "timeout", limit, "with --wait: give up (exit 1) after this long")
	}); err != nil {
		return err
	}
	if limit <= 0 {
		return usageError{fmt.Sprintf("elect: --timeout %v must be > 0", limit)}
	}
	node := g.node
	var before api.Status
	if err := call(http.MethodGet, node, "/v1/status", nil, &before); err != nil {
		return fmt.Errorf("elect: %w", err)
	}
	res := electResult{Node: node}
	if before.Role == "master" && !force {
		res.Master, res.Gen = before.ID, before.Gen
		res.Note = fmt.Sprintf("site %d at %s is the master (generation %d): no election called; --force calls one anyway", before.ID, node, before.Gen)
		return printElect(g, res)
	}
	if err := call(http.MethodPost, node, "/v1/admin/elect", nil, nil); err != nil {
		return fmt.Errorf("elect: %w", err)
	}
	res.Called = true
	if !wait {
		res.Note = fmt.Sprintf("election called from %s; 'repadmin elect --wait' or 'repadmin status' shows the outcome", node)
		return printElect(g, res)
	}
	st, err := waitElected(node, before, limit)
	if err != nil {
		return fmt.Errorf("elect --wait: %w", err)
	}
	res.Master, res.Gen = st.Master, st.Gen
	switch {
	case st.Gen > before.Gen:
		res.Note = fmt.Sprintf("site %d won the election: master of generation %d", st.Master, st.Gen)
	default:
		res.Note = fmt.Sprintf("the election ended without a new master: site %d remains master of generation %d", st.Master, st.Gen)
	}
	return printElect(g, res)
}

// waitElected polls the node until it knows a master and is not in an
// election that began after before: a newer election generation or
// generation, or a master where before there was none.
func waitElected(node string, before api.Status, limit time.Duration) (api.Status, error) {
	var beforeEGen uint64
	if before.Election != nil {
		beforeEGen = before.Election.EGen
	}
	deadline := time.Now().Add(limit)
	var (
		st      api.Status
		lastErr error
	)
	for time.Now().Before(deadline) {
		st = api.Status{}
		lastErr = call(http.MethodGet, node, "/v1/status", nil, &st)
		if lastErr == nil && st.Master != 0 && (st.Election == nil || !st.Election.Electing) {
			moved := st.Gen > before.Gen || before.Master == 0
			if st.Election != nil && st.Election.EGen > beforeEGen {
				moved = true
			}
			if moved {
				return st, nil
			}
		}
		time.Sleep(electPoll)
	}
	if lastErr != nil {
		return st, fmt.Errorf("no outcome within %v: %w", limit, lastErr)
	}
	if st.Master == 0 {
		return st, fmt.Errorf("no master elected within %v (is a majority of the group up and connected? 'repadmin group' shows it)", limit)
	}
	return st, fmt.Errorf("no outcome within %v: site %d is master of generation %d, as before", limit, st.Master, st.Gen)
}

func printElect(g *globals, res electResult) error {
	if g.json {
		return printJSON(g.stdout, res)
	}
	fmt.Fprintln(g.stdout, res.Note)
	return nil
}

// runTransfer hands mastership to another site and reports the outcome:
// the new master and generation, or why the transfer failed.
func runTransfer(g *globals, args []string) error {
	var to uint64
	if err := noArgs(g, "transfer", args, func(fs *flag.FlagSet) {
		fs.Uint64Var(&to, "to", 0, "the site to hand mastership to")
	}); err != nil {
		return err
	}
	if to == 0 {
		return usageError{"transfer: --to SITE is required"}
	}
	node := g.node
	res := electResult{Node: node}
	var answer struct {
		Master uint64 `json:"master"`
		Gen    uint64 `json:"gen"`
	}
	if err := callWithin(transferTimeout, http.MethodPost, node, "/v1/admin/transfer", map[string]uint64{"to": to}, &answer); err != nil {
		if g.json {
			res.Error = err.Error()
			_ = printJSON(g.stdout, res)
		}
		return fmt.Errorf("transfer: %w", err)
	}
	res.Called, res.Master, res.Gen = true, to, answer.Gen
	if res.Gen == 0 { // a repnode that does not answer the generation
		var st api.Status
		if call(http.MethodGet, node, "/v1/status", nil, &st) == nil && st.Master == to {
			res.Gen = st.Gen
		}
	}
	res.Note = fmt.Sprintf("mastership handed to site %d", to)
	if res.Gen != 0 {
		res.Note += fmt.Sprintf(" (generation %d)", res.Gen)
	}
	return printElect(g, res)
}
