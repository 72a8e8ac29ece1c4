package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"
	"time"

	"logship/cmd/internal/api"
)

// httpClient bounds every call: an operator tool must not hang.
var httpClient = &http.Client{Timeout: 5 * time.Second}

func runStatus(node string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("repadmin status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the node's /v1/status answer as JSON")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("status: unexpected argument %q", fs.Arg(0))}
	}
	var st api.Status
	if err := call(http.MethodGet, node, "/v1/status", nil, &st); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	printStatus(stdout, node, st)
	return nil
}

func printStatus(w io.Writer, node string, st api.Status) {
	fmt.Fprintf(w, "site %d at %s: %s, generation %d, master %s\n", st.ID, node, st.Role, st.Gen, siteName(st.Master))
	fmt.Fprintf(w, "log end %s, durable %s, applied %s, sync %s", orNone(st.LSN), orNone(st.DurableLSN), orNone(st.AppliedLSN), st.SyncState)
	if st.Lockout {
		fmt.Fprint(w, " (locked out)")
	}
	if st.InitTotal > 0 {
		fmt.Fprintf(w, ", internal init %d/%d bytes", st.InitDone, st.InitTotal)
	}
	fmt.Fprintln(w)
	if st.Error != "" {
		fmt.Fprintf(w, "error: %s\n", st.Error)
	}
	if len(st.Sites) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tADDRESS\tCONNECTED\tACKED LSN\tLAG BYTES")
	for _, s := range st.Sites {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\n", s.ID, s.Addr, yesNo(s.Connected), orNone(s.LSN), s.LagBytes)
	}
	tw.Flush()
}

func siteName(id uint64) string {
	if id == 0 {
		return "unknown"
	}
	return fmt.Sprint(id)
}

func orNone(lsn string) string {
	if lsn == "" {
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
