package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"logship/cmd/internal/api"
)

func runStatus(g *globals, args []string) error {
	if err := noArgs(g, "status", args, nil); err != nil {
		return err
	}
	var st api.Status
	if err := call(http.MethodGet, g.node, "/v1/status", nil, &st); err != nil {
		return err
	}
	if g.json {
		return printJSON(g.stdout, st)
	}
	printStatus(g.stdout, g.node, st)
	return nil
}

func printStatus(w io.Writer, node string, st api.Status) {
	fmt.Fprintf(w, "site %d at %s: %s, generation %d, master %s\n", st.ID, node, st.Role, st.Gen, siteName(st.Master))
	fmt.Fprintf(w, "last record %s, durable %s, applied %s, sync %s", orNone(st.LSN), orNone(st.DurableLSN), orNone(st.AppliedLSN), st.SyncState)
	if st.Lockout {
		fmt.Fprint(w, " (locked out)")
	}
	if st.InitTotal > 0 {
		fmt.Fprintf(w, ", internal init %d/%d bytes", st.InitDone, st.InitTotal)
		if st.Installing {
			fmt.Fprint(w, ", installing")
		}
	}
	fmt.Fprintln(w)
	if st.EndLSN != "" {
		fmt.Fprintf(w, "next record at %s", orNone(st.EndLSN))
		if st.Role == "client" {
			fmt.Fprintf(w, ", %s behind the newest master record heard of (%s)", humanBytes(st.BehindBytes), orNone(st.MasterLSN))
		}
		fmt.Fprintln(w)
	}
	printApplyDelay(w, st)
	if st.Error != "" {
		fmt.Fprintf(w, "error: %s\n", st.Error)
	}
	printMembership(w, st.Membership)
	if len(st.Sites) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tADDRESS\tMEMBER\tCONNECTED\tSENT\tFLUSHED\tAPPLIED\tLAG BYTES\tLAG\tCATCH-UP ETA")
	master := st.Role == "master"
	for _, s := range st.Sites {
		flushed := s.FlushedLSN
		if flushed == "" { // a repnode older than flushed_lsn
			flushed = s.LSN
		}
		lag, eta := "-", "-"
		if master {
			lag, eta = fmtSeconds(s.LagSeconds), fmtETA(s.CatchUpETASeconds)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", s.ID, s.Addr, memberKind(!s.NonVoting, s.Witness), yesNo(s.Connected),
			orNone(s.SentLSN), orNone(flushed), orNone(s.AppliedLSN), s.LagBytes, lag, eta)
	}
	tw.Flush()
	for _, s := range st.Sites {
		if master && s.InitTotalBytes > 0 {
			fmt.Fprintf(w, "site %d: internal init, %s of %s sent", s.ID, humanBytes(s.InitSentBytes), humanBytes(s.InitTotalBytes))
			if s.InitRate > 0 {
				fmt.Fprintf(w, " at %s/s, %s left", humanBytes(int64(s.InitRate)), fmtETA(s.InitETASeconds))
			}
			fmt.Fprintln(w)
		}
	}
}

// printMembership says where the site stands in the group, and what to
// do when it is not a member.
func printMembership(w io.Writer, m *api.Membership) {
	if m == nil {
		return
	}
	switch m.State {
	case "voting", "non_voting":
		fmt.Fprintf(w, "membership: %s member, %d members (%d voting), set at %s", memberKind(m.State == "voting", false),
			m.Members, m.Voters, membershipLSN(m.LSN))
		if m.Pending {
			fmt.Fprint(w, ", a change pending")
		}
		fmt.Fprintln(w)
	default:
		fmt.Fprintf(w, "membership: %s", strings.ReplaceAll(m.State, "_", " "))
		if m.RemovedLSN != "" {
			fmt.Fprintf(w, " at LSN %s", m.RemovedLSN)
		}
		fmt.Fprintln(w)
	}
	if m.Note != "" {
		fmt.Fprintf(w, "  %s\n", m.Note)
	}
}

// fmtSeconds prints a lag: whole seconds past a minute, else to the
// millisecond.
func fmtSeconds(secs float64) string {
	d := time.Duration(secs * float64(time.Second))
	if d >= time.Minute {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}

// fmtETA prints a catch-up estimate; -1 is "not progressing".
func fmtETA(secs float64) string {
	switch {
	case secs < 0:
		return "stalled"
	case secs == 0:
		return "-"
	}
	return fmtSeconds(secs)
}

func siteName(id uint64) string {
	if id == 0 {
		return "unknown"
	}
	return fmt.Sprint(id)
}

func orNone(lsn string) string {
	if lsn == "" || lsn == "0/0" {
		return "-"
	}
	return lsn
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
