package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
)

// statAnswer is api.Stats with the values kept as sent, so that large
// counters print exactly and LSNs print as text.
type statAnswer struct {
	ID          uint64                     `json:"id"`
	Replication map[string]json.RawMessage `json:"replication"`
	Election    map[string]json.RawMessage `json:"election,omitempty"`
	Env         map[string]json.RawMessage `json:"env"`
}

func runStat(g *globals, args []string) error {
	if err := noArgs(g, "stat", args, nil); err != nil {
		return err
	}
	node, stdout := g.node, g.stdout
	var st statAnswer
	if err := call(http.MethodGet, node, "/v1/stats", nil, &st); err != nil {
		var he *httpError
		if errors.As(err, &he) && he.Code == http.StatusNotFound {
			return fmt.Errorf("stat: %s has no /v1/stats: it runs an older repnode; upgrade it, or read its /metrics", node)
		}
		return fmt.Errorf("stat: %w", err)
	}
	if g.json {
		return printJSON(stdout, st)
	}
	printStats(stdout, node, st)
	return nil
}

// printStats prints every counter as one aligned table, by section, in
// name order.
func printStats(w io.Writer, node string, st statAnswer) {
	fmt.Fprintf(w, "site %d at %s\n", st.ID, node)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	section := func(title string, m map[string]json.RawMessage) {
		fmt.Fprintf(tw, "\n%s\t\n", title)
		if m == nil {
			fmt.Fprintln(tw, "  (elections are off on this site)\t")
			return
		}
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			fmt.Fprintf(tw, "  %s\t%s\n", k, statValue(m[k]))
		}
	}
	section("REPLICATION", st.Replication)
	section("ELECTION", st.Election)
	section("ENVIRONMENT", st.Env)
	tw.Flush()
}

// statValue prints a number as sent and a string (an LSN) unquoted.
func statValue(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
}
