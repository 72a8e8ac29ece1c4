package main

import (
	"encoding/json"
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

func runLog(g *globals, args []string) error {
	stdout := g.stdout
	if len(args) == 0 {
		return usageError{"log: want dump or verify"}
	}
	switch args[0] {
	case "dump":
		return logDump(g, args[1:], stdout)
	case "verify":
		return logVerify(g, args[1:], stdout)
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

func logFlags(g *globals, name string, args []string) (logOpts, error) {
	var o logOpts
	fs := flag.NewFlagSet("repadmin log "+name, flag.ContinueOnError)
	fs.StringVar(&o.site, "dir", "", "site directory (or its log/ directory) of a stopped site")
	if name == "dump" {
		fs.IntVar(&o.limit, "limit", 0, "print at most this many records (0: all)")
		fs.BoolVar(&o.rollback, "rollback", false, "print the site's rollback files (records undone when it synchronised with a new master) instead of its log")
	}
	if err := g.parse(fs, args); err != nil {
		return o, err
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

func logDump(g *globals, args []string, stdout io.Writer) error {
	o, err := logFlags(g, "dump", args)
	if err != nil {
		return err
	}
	if o.rollback {
		return dumpRollback(o.site, stdout)
	}
	dir, limit := o.dir, o.limit
	errStop := errors.New("limit reached")
	n := 0
	// With --json, one object per line (JSON Lines), so a long log
	// streams.
	enc := json.NewEncoder(stdout)
	if !g.json {
		fmt.Fprintf(stdout, "%-16s %8s  %s\n", "LSN", "LENGTH", "SUMMARY")
	}
	_, err = wal.Verify(vfs.OS, dir, func(r wal.Record) error {
		if limit > 0 && n >= limit {
			return errStop
		}
		n++
		if g.json {
			return enc.Encode(struct {
				LSN     string `json:"lsn"`
				Length  int    `json:"length"`
				Summary string `json:"summary"`
			}{r.LSN.String(), len(r.Payload), summarize(r.Payload)})
		}
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

func logVerify(g *globals, args []string, stdout io.Writer) error {
	o, err := logFlags(g, "verify", args)
	if err != nil {
		return err
	}
	dir := o.dir
	res, err := wal.Verify(vfs.OS, dir, nil)
	type verifyJSON struct {
		OK       bool   `json:"ok"`
		Records  int    `json:"records"`
		Segments int    `json:"segments,omitempty"`
		First    string `json:"first,omitempty"`
		End      string `json:"end,omitempty"`
		BadLSN   string `json:"bad_lsn,omitempty"`
		Error    string `json:"error,omitempty"`
	}
	if err != nil {
		var ce *wal.CorruptError
		bad := ""
		if errors.As(err, &ce) && !ce.LSN.IsZero() {
			bad = ce.LSN.String()
		}
		err = fmt.Errorf("log verify %s: %w", dir, err)
		switch {
		case g.json:
			_ = printJSON(stdout, verifyJSON{Records: res.Records, BadLSN: bad, Error: err.Error()})
		case bad != "":
			fmt.Fprintf(stdout, "bad record at %s after %d good records\n", bad, res.Records)
		}
		return err
	}
	if g.json {
		return printJSON(stdout, verifyJSON{OK: true, Records: res.Records, Segments: res.Segments, First: res.First.String(), End: res.End.String()})
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
