package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"logship/env"
	"logship/rep"
)

// put commits one write and returns its token.
func put(t *testing.T, e *env.Env, k, v string) env.Token {
	t.Helper()
	tok, err := e.Update(context.Background(), func(tx *env.Tx) error {
		return tx.Put("b", []byte(k), []byte(v))
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestLogDumpShowsTransactions(t *testing.T) {
	dir := t.TempDir()
	e, err := env.Open(dir, env.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	a := put(t, e, "k1", "first")
	put(t, e, "k1", "second")
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd("log", "dump", "--dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	line := lineWith(out, a.LSN.String()+" ")
	if !strings.Contains(line, `put "b"/"k1"="first" (absent before)`) {
		t.Fatalf("dump line %q", line)
	}
	if !strings.Contains(out, `put "b"/"k1"="second" (was "first")`) {
		t.Fatalf("dump does not show the before-image:\n%s", out)
	}
}

// A client that rolled back records when it synchronised with a new master
// keeps them in a rollback file; repadmin shows each write with its
// before-image so an operator can re-apply it.
func TestLogDumpRollbackShowsUndoneWrites(t *testing.T) {
	dir := t.TempDir()
	e, err := env.Open(dir, env.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	keep := put(t, e, "kept", "v")
	var undone []env.Token
	for i := range 3 {
		undone = append(undone, put(t, e, fmt.Sprint("lost", i), fmt.Sprint("value", i)))
	}
	n, path, err := e.Replica().Rollback(context.Background(), rep.Rollback{To: keep.LSN, From: undone[2].LSN})
	if err != nil || n != 3 || path == "" {
		t.Fatalf("Rollback = %d, %q, %v", n, path, err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd("log", "dump", "--dir", dir, "--rollback")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, path) || !strings.Contains(out, "rolled back 3 record(s) after "+keep.LSN.String()) {
		t.Fatalf("rollback dump:\n%s", out)
	}
	for i, tok := range undone {
		want := fmt.Sprintf(`put "b"/"lost%d"="value%d" (absent before)`, i, i)
		if !strings.Contains(out, tok.LSN.String()) || !strings.Contains(out, want) {
			t.Fatalf("rollback dump lacks %s %s:\n%s", tok.LSN, want, out)
		}
	}
	if strings.Contains(out, `"kept"`) {
		t.Fatalf("the kept record is in the rollback dump:\n%s", out)
	}
	if code, out, _ := runCmd("log", "dump", "--dir", t.TempDir(), "--rollback"); code != 0 || !strings.Contains(out, "no rollback files") {
		t.Fatalf("empty site: exit %d %q", code, out)
	}
}
