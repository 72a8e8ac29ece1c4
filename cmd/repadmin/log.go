package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"unicode"

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
func logFlags(name string, args []string, stderr io.Writer) (dir string, limit int, err error) {
	fs := flag.NewFlagSet("repadmin log "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&dir, "dir", "", "site directory (or its log/ directory) of a stopped site")
	if name == "dump" {
		fs.IntVar(&limit, "limit", 0, "print at most this many records (0: all)")
	}
	if err := fs.Parse(args); err != nil {
		return "", 0, usageError{err.Error()}
	}
	if dir == "" {
		return "", 0, usageError{"log " + name + ": --dir is required"}
	}
	if fs.NArg() > 0 {
		return "", 0, usageError{fmt.Sprintf("log %s: unexpected argument %q", name, fs.Arg(0))}
	}
	dir, err = logDir(dir)
	return dir, limit, err
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
	dir, limit, err := logFlags("dump", args, stderr)
	if err != nil {
		return err
	}
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
	dir, _, err := logFlags("verify", args, stderr)
	if err != nil {
		return err
	}
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

// summarize describes a payload in one short line: the text if it is
// printable, else its first bytes in hex.
func summarize(p []byte) string {
	const max = 48
	if describe != nil {
		if s, ok := describe(p); ok {
			return s
		}
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

// describe, when set, renders a payload the environment knows how to read
// (a transaction record). It returns false for anything else.
var describe func([]byte) (string, bool)
