package main

// repadmin site: list and change the group's membership (GET
// /v1/members, POST/DELETE /v1/admin/members...). A change is made by
// the master; asked at a client, repnode answers 503 naming the master's
// HTTP address, and repadmin repeats the request there once, saying so.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"text/tabwriter"
	"time"

	"logship/cmd/internal/api"
)

const siteUsage = `usage: repadmin site <list|add|remove|promote|demote> [flags]

  site list                                  every member: addresses, voting, connected, lag
  site add --id N --addr HOST:PORT [--http HOST:PORT] [--resp HOST:PORT] [--non-voting]
                                             add site N (its replication address); it joins
                                             non-voting and the master promotes it once caught
                                             up, unless --non-voting (a read replica)
  site remove --id N                         remove site N from the group
  site promote --id N                        make site N a voting member
  site demote --id N                         make site N non-voting (a read replica)

Each takes --json and the global flags; a change goes to the master (followed from --node).
`

// runSite dispatches 'repadmin site SUB'.
func runSite(g *globals, args []string) error {
	if len(args) == 0 {
		return usageError{"site: want list, add, remove, promote or demote\n\n" + siteUsage}
	}
	switch args[0] {
	case "list", "ls", "members":
		return runSiteList(g, args[1:])
	case "add":
		return runSiteAdd(g, args[1:])
	case "remove", "rm":
		return runSiteRemove(g, args[1:])
	case "promote":
		return runSiteVoting(g, "promote", true, args[1:])
	case "demote":
		return runSiteVoting(g, "demote", false, args[1:])
	case "-h", "--help", "help":
		fmt.Fprint(g.stdout, siteUsage)
		return errHelp
	}
	return usageError{fmt.Sprintf("site: unknown subcommand %q\n\n%s", args[0], siteUsage)}
}

func runSiteList(g *globals, args []string) error {
	if err := noArgs(g, "site list", args, nil); err != nil {
		return err
	}
	var m api.Members
	if err := call(http.MethodGet, g.node, "/v1/members", nil, &m); err != nil {
		return fmt.Errorf("site list: %w", membersHint(err))
	}
	if g.json {
		return printJSON(g.stdout, m)
	}
	printMembers(g.stdout, g.node, m)
	return nil
}

func printMembers(w io.Writer, node string, m api.Members) {
	voters := 0
	for _, s := range m.Members {
		if s.Voting {
			voters++
		}
	}
	fmt.Fprintf(w, "%d members, %d voting; membership set at %s, master %s (view of site %d at %s)\n",
		len(m.Members), voters, membershipLSN(m.LSN), siteName(m.Master), m.ID, node)
	if m.Pending {
		fmt.Fprintln(w, "a change is pending: a new member is catching up before it is promoted, or a change is not yet everywhere")
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tADDRESS\tHTTP\tRESP\tMEMBER\tCONNECTED\tLAG BYTES")
	for _, s := range m.Members {
		conn, id := yesNo(s.Connected), fmt.Sprint(s.ID)
		if s.Self {
			conn, id = "-", id+"*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", id, s.Addr, orDash(s.HTTPAddr), orDash(s.RESPAddr),
			memberKind(s.Voting, s.Witness), conn, s.LagBytes)
	}
	tw.Flush()
}

// memberKind names how the group counts a member.
func memberKind(voting, witness bool) string {
	switch {
	case witness:
		return "witness"
	case voting:
		return "voting"
	}
	return "non-voting"
}

func membershipLSN(l string) string {
	if l == "" || l == "0/0" {
		return "start-up (--peers)"
	}
	return "LSN " + l
}

func runSiteAdd(g *globals, args []string) error {
	var req api.MemberRequest
	var nonVoting bool
	if err := noArgs(g, "site add", args, func(fs *flag.FlagSet) {
		fs.Uint64Var(&req.ID, "id", 0, "the new site's id (a positive integer not in the group)")
		fs.StringVar(&req.Addr, "addr", "", "the new site's replication address HOST:PORT (its --listen)")
		fs.StringVar(&req.HTTP, "http", "", "its client API address HOST:PORT (its --http / --advertise-http)")
		fs.StringVar(&req.RESP, "resp", "", "its RESP address HOST:PORT, if it runs --resp")
		fs.BoolVar(&nonVoting, "non-voting", false, "keep it a non-voting read replica (promote it later with 'site promote')")
	}); err != nil {
		return err
	}
	if req.ID == 0 {
		return usageError{"site add: --id N is required (a positive integer)"}
	}
	for name, a := range map[string]string{"addr": req.Addr, "http": req.HTTP, "resp": req.RESP} {
		if a == "" && name != "addr" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return usageError{fmt.Sprintf("site add: --%s %q: want HOST:PORT", name, a)}
		}
	}
	voting := !nonVoting
	req.Voting = &voting
	res, at, err := changeAtMaster(g, http.MethodPost, "/v1/admin/members", req)
	if err != nil {
		return fmt.Errorf("site add: %w", err)
	}
	if g.json {
		return printJSON(g.stdout, res)
	}
	fmt.Fprintf(g.stdout, "site %d added at %s by the master (%s)", req.ID, membershipLSN(res.Members.LSN), at)
	if voting {
		fmt.Fprintln(g.stdout, "; it is non-voting until it has caught up, then the master promotes it")
	} else {
		fmt.Fprintf(g.stdout, " as a non-voting read replica; 'repadmin site promote --id %d' makes it vote\n", req.ID)
	}
	fmt.Fprintf(g.stdout, "start it with: repnode --id %d --listen %s --dir EMPTY_DIR --join %s [--http ...]\n", req.ID, req.Addr, at)
	return nil
}

func runSiteRemove(g *globals, args []string) error {
	var id uint64
	if err := noArgs(g, "site remove", args, func(fs *flag.FlagSet) {
		fs.Uint64Var(&id, "id", 0, "the site to remove")
	}); err != nil {
		return err
	}
	if id == 0 {
		return usageError{"site remove: --id N is required"}
	}
	res, at, err := changeAtMaster(g, http.MethodDelete, fmt.Sprintf("/v1/admin/members/%d", id), nil)
	if err != nil {
		return fmt.Errorf("site remove: %w", err)
	}
	if g.json {
		return printJSON(g.stdout, res)
	}
	fmt.Fprintf(g.stdout, "site %d removed from the group at %s by the master (%s); it no longer counts for elections or acks: stop it and, to reuse it, wipe its directory\n",
		id, membershipLSN(res.Members.LSN), at)
	return nil
}

func runSiteVoting(g *globals, op string, voting bool, args []string) error {
	var id uint64
	if err := noArgs(g, "site "+op, args, func(fs *flag.FlagSet) {
		fs.Uint64Var(&id, "id", 0, "the site to "+op)
	}); err != nil {
		return err
	}
	if id == 0 {
		return usageError{fmt.Sprintf("site %s: --id N is required", op)}
	}
	res, at, err := changeAtMaster(g, http.MethodPost, fmt.Sprintf("/v1/admin/members/%d/voting", id), api.VotingRequest{Voting: &voting})
	if err != nil {
		return fmt.Errorf("site %s: %w", op, err)
	}
	if g.json {
		return printJSON(g.stdout, res)
	}
	what := "a voting member: it votes in elections and its acks count"
	if !voting {
		what = "non-voting: it keeps replicating but no longer votes or counts for acks"
	}
	fmt.Fprintf(g.stdout, "site %d is now %s (%s, by the master at %s)\n", id, what, membershipLSN(res.Members.LSN), at)
	if res.Note != "" {
		fmt.Fprintln(g.stdout, res.Note)
	}
	return nil
}

// memberChangeLimit bounds a membership change request: repnode's own
// 30 s bound on the wait for its record, and some.
const memberChangeLimit = 40 * time.Second

// changeAtMaster sends a membership change to --node and, when that site
// answers it is not the master and names the master's HTTP address,
// once more to the master. It returns the answer and where it was made.
func changeAtMaster(g *globals, method, path string, body any) (api.MemberChange, string, error) {
	var res api.MemberChange
	at := g.node
	// A change answers once its record reached the commit point, which
	// repnode bounds at 30 s: wait for that answer.
	limit := max(requestTimeout, memberChangeLimit)
	err := callWithin(limit, method, at, path, body, &res)
	var he *httpError
	if errors.As(err, &he) && he.Code == http.StatusServiceUnavailable && he.Body.MasterHTTP != "" && he.Body.MasterHTTP != at {
		if !g.json {
			fmt.Fprintf(g.stderr, "%s is not the master; asking the master, site %d at %s\n", at, he.Body.Master, he.Body.MasterHTTP)
		}
		at = he.Body.MasterHTTP
		err = callWithin(limit, method, at, path, body, &res)
	}
	return res, at, membersHint(err)
}

// membersHint adds what a 404 means: a repnode older than membership
// changes.
func membersHint(err error) error {
	var he *httpError
	if errors.As(err, &he) && he.Code == http.StatusNotFound && he.Body.Error == "" {
		return fmt.Errorf("%w (this repnode predates membership changes: upgrade it)", err)
	}
	return err
}
