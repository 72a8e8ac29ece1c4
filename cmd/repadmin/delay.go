package main

import (
	"fmt"
	"io"

	"logship/cmd/internal/api"
)

// printApplyDelay prints a delayed replica's line of status
// (--apply-delay): the delay, and how old the data it serves is.
func printApplyDelay(w io.Writer, st api.Status) {
	if st.ApplyDelay == "" {
		return
	}
	if !st.ApplyDelayActive {
		fmt.Fprintf(w, "apply delay %s, not in force (a master applies everything)\n", st.ApplyDelay)
		return
	}
	fmt.Fprintf(w, "delayed by %s", st.ApplyDelay)
	if st.AppliedCommitAgeSeconds > 0 {
		fmt.Fprintf(w, ": reads see the data as of %s ago", fmtSeconds(st.AppliedCommitAgeSeconds))
	}
	fmt.Fprintln(w)
}
