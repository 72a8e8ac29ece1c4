package main

import (
	"bytes"
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

// ANSI: cursor home, clear screen; clear to the end of the line.
const (
	ansiClearScreen = "\x1b[H\x1b[2J"
	ansiClearLine   = "\x1b[K"
)

func runWatch(node string, args []string, stdout, stderr io.Writer) error {
	var (
		interval time.Duration
		count    int
	)
	if err := noArgs("watch", args, stderr, func(fs *flag.FlagSet) {
		fs.DurationVar(&interval, "interval", time.Second, "time between refreshes")
		fs.IntVar(&count, "count", 0, "stop after N refreshes (0: until interrupted)")
	}); err != nil {
		return err
	}
	if interval <= 0 {
		return usageError{fmt.Sprintf("watch: --interval %v must be > 0", interval)}
	}
	if count < 0 {
		return usageError{fmt.Sprintf("watch: --count %d must be >= 0", count)}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return watch(ctx, node, interval, count, stdout, isTerminal(stdout))
}

// watch redraws the status every interval: in place on a terminal, as
// successive tables otherwise (a log, a pipe). A node that stops
// answering after the first refresh is reported in the table, not fatal:
// watching a restart is what the command is for.
func watch(ctx context.Context, node string, interval time.Duration, count int, w io.Writer, tty bool) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; count == 0 || i < count; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
		}
		var st api.Status
		err := call(http.MethodGet, node, "/v1/status", nil, &st)
		if err != nil && i == 0 {
			return fmt.Errorf("watch: %w", err)
		}
		var b bytes.Buffer
		switch {
		case tty:
			b.WriteString(ansiClearScreen)
		case i > 0:
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s  every %v", time.Now().Format("15:04:05"), interval)
		if tty {
			b.WriteString(", Ctrl-C to stop")
		}
		b.WriteString("\n\n")
		if err != nil {
			fmt.Fprintf(&b, "%v\n", err)
		} else {
			printStatus(&b, node, st)
		}
		if _, err := w.Write(b.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// isTerminal reports whether w is a character device (a terminal), where
// redrawing in place makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
