package main

// The one-line progress bar of sync --wait (syncwait.go).

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// progress is one frame of the progress bar.
type progress struct {
	Label       string
	Done, Total int64   // bytes; Total 0: not known yet, < 0: a phase without a size
	Rate        float64 // bytes per second; 0: not measured yet
}

// renderProgress draws p as one line with a bar of width cells:
//
//	catch-up [##########----------]  50%  1.0 MiB / 2.0 MiB  512.0 KiB/s  ETA 2s
//
// A phase without a size (Total < 0) is its label alone.
func renderProgress(p progress, width int) string {
	if p.Total < 0 {
		return p.Label + " ..."
	}
	width = max(width, 1)
	frac := 0.0
	switch {
	case p.Total > 0:
		frac = math.Min(1, math.Max(0, float64(p.Done)/float64(p.Total)))
	case p.Done > 0:
		frac = 1
	}
	full := int(frac * float64(width))
	var b strings.Builder
	fmt.Fprintf(&b, "%s [%s%s] %3d%%  %s / %s", p.Label, strings.Repeat("#", full), strings.Repeat("-", width-full),
		int(frac*100), humanBytes(p.Done), humanBytes(p.Total))
	if p.Rate > 0 {
		fmt.Fprintf(&b, "  %s/s", humanBytes(int64(p.Rate)))
	} else {
		b.WriteString("  -/s")
	}
	left := p.Total - p.Done
	switch {
	case left <= 0:
		b.WriteString("  ETA 0s")
	case p.Rate > 0:
		eta := time.Duration(float64(left) / p.Rate * float64(time.Second))
		fmt.Fprintf(&b, "  ETA %v", eta.Round(time.Second))
	default:
		b.WriteString("  ETA ?")
	}
	return b.String()
}

// humanBytes prints n in B, KiB, MiB, GiB or TiB.
func humanBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	for _, unit := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v /= 1024
		if v < 1024 || unit == "TiB" {
			return fmt.Sprintf("%.1f %s", v, unit)
		}
	}
	return "" // not reached
}
