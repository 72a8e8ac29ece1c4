package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"logship/env"
	"logship/wal"
	"logship/wal/vfs"
)

func runLog(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"log: want dump or verify"}
	}
	switch args[0] {
	case "dump":
		return logDump(args[1:], stdout, stderr)
	case "verify":
		return logVerify(args[1:], stdout, stderr)
	}
	return usageError{fmt.Sprintf("log: unknown subcommand %q (want dump or verify)", args[0])}
}

// logFlags parses the flags log dump and verify share.
type logOpts struct {
	dir      string // the log directory
	site     string // the directory given
	limit    int
	rollback bool
}

func logFlags(name string, args []string, stderr io.Writer) (logOpts, error) {
	var o logOpts
	fs := flag.NewFlagSet("repadmin log "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.site, "dir", "", "site directory (or its log/ directory) of a stopped site")
	if name == "dump" {
		fs.IntVar(&o.limit, "limit", 0, "print at most this many records (0: all)")
		fs.BoolVar(&o.rollback, "rollback", false, "print the site's rollback files (records undone when it synchronised with a new master) instead of its log")
	}
	if err := fs.Parse(args); err != nil {
		return o, usageError{err.Error()}
	}
	if o.site == "" {
		return o, usageError{"log " + name + ": --dir is required"}
	}
	if fs.NArg() > 0 {
		return o, usageError{fmt.Sprintf("log %s: unexpected argument %q", name, fs.Arg(0))}
	}
	var err error
	o.dir, err = logDir(o.site)
	return o, err
}

// logDir accepts either a site directory (holding log/) or the log
// directory itself, so operators can pass whichever they have at hand.
func logDir(dir string) (string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("%s: %w (is --dir the site's directory?)", dir, err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("%s is not a directory", dir)
	}
	if sub := filepath.Join(dir, "log"); isDir(sub) {
		return sub, nil
	}
	return dir, nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func logDump(args []string, stdout, stderr io.Writer) error {
	o, err := logFlags("dump", args, stderr)
	if err != nil {
		return err
	}
	if o.rollback {
		return dumpRollback(o.site, stdout)
	}
	dir, limit := o.dir, o.limit
	errStop := errors.New("limit reached")
	n := 0
	fmt.Fprintf(stdout, "%-16s %8s  %s\n", "LSN", "LENGTH", "SUMMARY")
	_, err = wal.Verify(vfs.OS, dir, func(r wal.Record) error {
		if limit > 0 && n >= limit {
			return errStop
		}
		n++
		fmt.Fprintf(stdout, "%-16s %8d  %s\n", r.LSN, len(r.Payload), summarize(r.Payload))
		return nil
	})
	if errors.Is(err, errStop) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("log dump %s: %w", dir, err)
	}
	return nil
}

func logVerify(args []string, stdout, stderr io.Writer) error {
	o, err := logFlags("verify", args, stderr)
	if err != nil {
		return err
	}
	dir := o.dir
	res, err := wal.Verify(vfs.OS, dir, nil)
	if err != nil {
		var ce *wal.CorruptError
		if errors.As(err, &ce) && !ce.LSN.IsZero() {
			fmt.Fprintf(stdout, "bad record at %s after %d good records\n", ce.LSN, res.Records)
		}
		return fmt.Errorf("log verify %s: %w", dir, err)
	}
	fmt.Fprintf(stdout, "ok: %d records in %d segment files, first %s, end %s\n",
		res.Records, res.Segments, res.First, res.End)
	return nil
}

// summarize describes a payload in one short line: the transaction it
// holds, or, for a payload that is not an environment record, its text if
// printable, else its first bytes in hex.
func summarize(p []byte) string {
	const max = 48
	if gen, _, ops, err := env.DecodeLogRecord(p); err == nil {
		return fmt.Sprintf("gen %d, %s", gen, describeOps(ops, 2))
	}
	printable := true
	for _, r := range string(p[:min(len(p), max)]) {
		if !unicode.IsPrint(r) {
			printable = false
			break
		}
	}
	switch {
	case len(p) == 0:
		return "(empty)"
	case printable && len(p) <= max:
		return fmt.Sprintf("%q", p)
	case printable:
		return fmt.Sprintf("%q...", p[:max])
	case len(p) <= max/2:
		return fmt.Sprintf("% x", p)
	}
	return fmt.Sprintf("% x ...", p[:max/2])
}

// describeOps lists up to n writes and counts the rest.
func describeOps(ops []env.Op, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d write(s):", len(ops))
	for i, op := range ops {
		if i == n {
			fmt.Fprintf(&b, " ...")
			break
		}
		b.WriteString(" " + describeOp(op))
	}
	return b.String()
}

func describeOp(op env.Op) string {
	before := "absent before"
	if op.Existed {
		before = "was " + short(op.Old)
	}
	if op.Delete {
		return fmt.Sprintf("delete %s/%s (%s)", short(op.Bucket), short(op.Key), before)
	}
	return fmt.Sprintf("put %s/%s=%s (%s)", short(op.Bucket), short(op.Key), short(op.Value), before)
}

// short quotes b, cut to a readable length.
func short(b []byte) string {
	const max = 32
	if len(b) > max {
		return fmt.Sprintf("%q...", b[:max])
	}
	return fmt.Sprintf("%q", b)
}

// dumpRollback prints every rollback file of the site: the records a
// client undid when it synchronised with a new master, each write with its
// before-image, so an operator can re-apply what matters by hand.
func dumpRollback(site string, stdout io.Writer) error {
	files, err := env.RollbackFiles(site)
	if err != nil {
		return fmt.Errorf("log dump --rollback %s: %w", site, err)
	}
	if len(files) == 0 {
		fmt.Fprintf(stdout, "no rollback files in %s\n", site)
		return nil
	}
	for _, f := range files {
		fmt.Fprintf(stdout, "%s\n", f)
		first := true
		err := env.ReadRollbackFile(f, func(h env.RollbackHeader, r env.RollbackRecord) error {
			if first {
				first = false
				fmt.Fprintf(stdout, "  site %d rolled back %d record(s) after %s (through %s) at %s\n",
					h.Site, h.Count, h.To, h.From, h.Time.UTC().Format(time.RFC3339))
			}
			at, ops, err := r.Ops()
			if err != nil {
				fmt.Fprintf(stdout, "  %s gen %d: undecodable payload (%v)\n", r.LSN, r.Gen, err)
				return nil
			}
			fmt.Fprintf(stdout, "  %s gen %d committed %s\n", r.LSN, r.Gen, at.UTC().Format(time.RFC3339Nano))
			for _, op := range ops {
				fmt.Fprintf(stdout, "    %s\n", describeOp(op))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("log dump --rollback %s: %w", f, err)
		}
	}
	return nil
}
