package main

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"logship/cmd/internal/api"
)

// groupSite is one row of 'repadmin group': what the site says of itself
// at its own HTTP address, and what the master says of it.
type groupSite struct {
	ID       uint64 `json:"id"`
	HTTPAddr string `json:"http_addr,omitempty"`
	// From the site itself (empty when it did not answer).
	Role       string `json:"role,omitempty"`
	Gen        uint64 `json:"gen,omitempty"`
	LSN        string `json:"lsn,omitempty"`
	AppliedLSN string `json:"applied_lsn,omitempty"`
	SyncState  string `json:"sync_state,omitempty"`
	Error      string `json:"error,omitempty"` // why it could not be asked, or its own error
	// Member is how the group counts the site: "voting", "non-voting"
	// or "witness" (the asked site's membership).
	Member string `json:"member,omitempty"`
	// From the master's view (zero on the master's own row).
	Connected  bool    `json:"connected"`
	LagBytes   int64   `json:"lag_bytes"`
	LagSeconds float64 `json:"lag_seconds"`
}

// groupView is the answer of 'repadmin group --json'.
type groupView struct {
	Master uint64      `json:"master"`
	Gen    uint64      `json:"gen"`
	Asked  string      `json:"asked"` // the site whose view lists the group: the master if reachable
	Sites  []groupSite `json:"sites"`
}

// runGroup shows every site of the group: it asks --node for the group,
// moves to the master (whose view has the lag of every site), then asks
// each site at the HTTP address it advertised.
func runGroup(g *globals, args []string) error {
	if err := noArgs(g, "group", args, nil); err != nil {
		return err
	}
	view, err := gatherGroup(g.node)
	if err != nil {
		return fmt.Errorf("group: %w", err)
	}
	if g.json {
		return printJSON(g.stdout, view)
	}
	printGroup(g.stdout, view)
	return nil
}

func gatherGroup(node string) (groupView, error) {
	var st api.Status
	if err := call(http.MethodGet, node, "/v1/status", nil, &st); err != nil {
		return groupView{}, err
	}
	asked := node
	if st.Role != "master" && st.MasterHTTP != "" {
		var ms api.Status
		if call(http.MethodGet, st.MasterHTTP, "/v1/status", nil, &ms) == nil && ms.Role == "master" {
			st, asked = ms, st.MasterHTTP
		}
	}
	self := st.HTTPAddr
	if self == "" {
		self = asked
	}
	view := groupView{Master: st.Master, Gen: st.Gen, Asked: asked}
	selfKind := "voting"
	if st.Membership != nil && st.Membership.State != "voting" {
		selfKind = strings.ReplaceAll(st.Membership.State, "_", "-")
	}
	view.Sites = append(view.Sites, groupSite{ID: st.ID, HTTPAddr: self, Member: selfKind})
	for _, s := range st.Sites {
		row := groupSite{ID: s.ID, HTTPAddr: s.HTTPAddr, Member: memberKind(!s.NonVoting, s.Witness)}
		if st.Role == "master" {
			row.Connected, row.LagBytes, row.LagSeconds = s.Connected, s.LagBytes, s.LagSeconds
		} else {
			row.Connected = s.Connected
		}
		view.Sites = append(view.Sites, row)
	}
	// Ask every site at once: one that does not answer costs one
	// request timeout, not one per site.
	var wg sync.WaitGroup
	for i := range view.Sites {
		row := &view.Sites[i]
		if i == 0 {
			fillRow(row, st)
			continue
		}
		if row.HTTPAddr == "" {
			row.Error = "HTTP address not known yet (the site has not connected since this one started)"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ss api.Status
			if err := call(http.MethodGet, row.HTTPAddr, "/v1/status", nil, &ss); err != nil {
				row.Error = err.Error()
				return
			}
			fillRow(row, ss)
		}()
	}
	wg.Wait()
	slices.SortFunc(view.Sites, func(a, b groupSite) int { return int(a.ID) - int(b.ID) })
	return view, nil
}

func fillRow(row *groupSite, st api.Status) {
	row.Role, row.Gen, row.LSN, row.AppliedLSN, row.SyncState = st.Role, st.Gen, st.LSN, st.AppliedLSN, st.SyncState
	if st.Error != "" {
		row.Error = st.Error
	}
}

func printGroup(w io.Writer, v groupView) {
	fmt.Fprintf(w, "master %s, generation %d (view of %s)\n\n", siteName(v.Master), v.Gen, v.Asked)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tHTTP\tROLE\tMEMBER\tGEN\tLSN\tAPPLIED\tLAG BYTES\tLAG\tCONNECTED\tSYNC")
	for _, s := range v.Sites {
		role, conn, lag := s.Role, yesNo(s.Connected), fmtSeconds(s.LagSeconds)
		if role == "" {
			role = "?"
		}
		if s.ID == v.Master {
			conn, lag = "-", "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\t%s\n", s.ID, orDash(s.HTTPAddr), role, orDash(s.Member), s.Gen,
			orNone(s.LSN), orNone(s.AppliedLSN), s.LagBytes, lag, conn, orDash(s.SyncState))
	}
	tw.Flush()
	for _, s := range v.Sites {
		if s.Error != "" {
			fmt.Fprintf(w, "site %d: %s\n", s.ID, s.Error)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
