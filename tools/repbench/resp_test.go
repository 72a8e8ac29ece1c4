package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeRESP is enough of a RESP server to test the client: it reads
// commands (arrays of bulk strings) and answers SET by the key's ending:
// "-np" NOTPERMANENT, "-ro" READONLY, "-err" ERR, "-bye" closes the
// connection, anything else +OK. With every > 0 it answers NOTPERMANENT to
// every every-th SET instead.
type fakeRESP struct {
	ln    net.Listener
	every int
	mu    sync.Mutex
	sets  [][2]string // key, value as received
	n     int
	wg    sync.WaitGroup
}

func startFakeRESP(t *testing.T, every int) *fakeRESP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRESP{ln: ln, every: every}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.wg.Add(1)
			go func() { defer f.wg.Done(); f.serve(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); f.wg.Wait() })
	return f
}

func readCommand(br *bufio.Reader) ([]string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(line, "*") || !strings.HasSuffix(line, "\r\n") {
		return nil, fmt.Errorf("not an array: %q", line)
	}
	n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
	if err != nil {
		return nil, err
	}
	var args []string
	for range n {
		h, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		l, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(h, "$")))
		if err != nil || h[0] != '$' {
			return nil, fmt.Errorf("not a bulk string: %q", h)
		}
		b := make([]byte, l+2)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, err
		}
		if string(b[l:]) != "\r\n" {
			return nil, errors.New("bulk string not ended by CRLF")
		}
		args = append(args, string(b[:l]))
	}
	return args, nil
}

func (f *fakeRESP) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		args, err := readCommand(br)
		if err != nil {
			return
		}
		if len(args) != 3 || args[0] != "SET" {
			c.Write([]byte("-ERR unknown command\r\n"))
			continue
		}
		f.mu.Lock()
		f.sets = append(f.sets, [2]string{args[1], args[2]})
		f.n++
		n := f.n
		f.mu.Unlock()
		var ans string
		switch k := args[1]; {
		case f.every > 0 && n%f.every == 0:
			ans = "-NOTPERMANENT committed at 1/2 but not permanent\r\n"
		case f.every > 0:
			ans = "+OK\r\n"
		case strings.HasSuffix(k, "-np"):
			ans = "-NOTPERMANENT committed at 1/2 but not permanent under ack policy quorum\r\n"
		case strings.HasSuffix(k, "-ro"):
			ans = "-READONLY not the master; the master is site 2\r\n"
		case strings.HasSuffix(k, "-err"):
			ans = "-ERR value too large\r\n"
		case strings.HasSuffix(k, "-bye"):
			return
		default:
			ans = "+OK\r\n"
		}
		if _, err := c.Write([]byte(ans)); err != nil {
			return
		}
	}
}

func keysOf(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i, k := range s {
		out[i] = []byte(k)
	}
	return out
}

func TestRESPBatchAnswers(t *testing.T) {
	f := startFakeRESP(t, 0)
	rc := newRESPConn(f.ln.Addr().String(), 5*time.Second)
	defer rc.close()
	value := bytes.Repeat([]byte("v"), 128)
	keys := keysOf("a", "b-np", "c-ro", "d-err", "e")
	out := make([]reply, len(keys))
	t0 := time.Now()
	rc.batch(context.Background(), keys, value, out)

	if !out[0].perm || out[0].err != nil || !out[4].perm || out[4].err != nil {
		t.Errorf("+OK: %+v %+v, want permanent", out[0], out[4])
	}
	if out[1].perm || out[1].err != nil {
		t.Errorf("NOTPERMANENT: %+v, want committed, not permanent", out[1])
	}
	if !errors.Is(out[2].err, errNotMaster) {
		t.Errorf("READONLY: %v, want errNotMaster", out[2].err)
	}
	var re *respError
	if !errors.As(out[3].err, &re) || !strings.Contains(re.msg, "value too large") {
		t.Errorf("ERR: %v", out[3].err)
	}
	for i, r := range out {
		if r.at.Before(t0) {
			t.Errorf("reply %d has no time", i)
		}
	}
	// The error answers left the connection in step: the next batch goes
	// out on the same one.
	rc.batch(context.Background(), keysOf("f"), value, out[:1])
	if !out[0].perm || out[0].err != nil {
		t.Errorf("after error answers: %+v", out[0])
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sets) != 6 {
		t.Fatalf("server got %d SETs, want 6", len(f.sets))
	}
	for i, k := range []string{"a", "b-np", "c-ro", "d-err", "e", "f"} {
		if f.sets[i][0] != k || f.sets[i][1] != string(value) {
			t.Errorf("SET %d: %q=%d bytes, want %q and the value", i, f.sets[i][0], len(f.sets[i][1]), k)
		}
	}
}

// A connection lost mid-batch fails the rest of the batch, not what was
// answered, and the next batch dials again.
func TestRESPConnectionLost(t *testing.T) {
	f := startFakeRESP(t, 0)
	rc := newRESPConn(f.ln.Addr().String(), 5*time.Second)
	defer rc.close()
	out := make([]reply, 3)
	rc.batch(context.Background(), keysOf("a", "b-bye", "c"), []byte("x"), out)
	if out[0].err != nil || !out[0].perm {
		t.Errorf("answered before the loss: %+v", out[0])
	}
	if out[1].err == nil || out[2].err == nil {
		t.Errorf("after the loss: %v, %v, want errors", out[1].err, out[2].err)
	}
	rc.batch(context.Background(), keysOf("d"), []byte("x"), out[:1])
	if out[0].err != nil || !out[0].perm {
		t.Errorf("redialled: %+v", out[0])
	}
}

func TestRESPReadUnexpectedAnswers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		perm bool
		bad  bool // a broken stream, not an error answer
	}{
		{"+OK\r\n", true, false},
		{"-NOTPERMANENT x\r\n", false, false},
		{":1\r\n", false, false},
		{"$3\r\nabc\r\n", false, false},
		{"*2\r\n$1\r\na\r\n:2\r\n", false, false},
		{"+OK\n", false, true},
		{"?\r\n", false, true},
	} {
		rc := &respConn{br: bufio.NewReader(strings.NewReader(tc.in + "+OK\r\n"))}
		perm, err := rc.readSetAnswer()
		var re *respError
		if perm != tc.perm || (err != nil && !errors.As(err, &re)) != tc.bad {
			t.Errorf("%q: perm %v err %v", tc.in, perm, err)
			continue
		}
		if !tc.bad {
			// The stream stays in step: the next answer reads whole.
			if p, err := rc.readSetAnswer(); !p || err != nil {
				t.Errorf("%q: next answer %v %v", tc.in, p, err)
			}
		}
	}
}

// The load over RESP counts a NOTPERMANENT answer as a commit that is not
// permanent, every answer once, pipelined or not.
func TestLoadOverRESPCounts(t *testing.T) {
	for _, pipe := range []int{1, 4} {
		f := startFakeRESP(t, 5)
		addr := f.ln.Addr().String()
		lc := loadConfig{
			writers: 3, pipeline: pipe, valueSize: 16, warmup: 0, duration: 300 * time.Millisecond,
			variant: "t", ack: "quorum", sites: 1, master: addr,
			newWriter: func(int) loadWriter { return newRESPConn(addr, 5*time.Second) },
		}
		res, err := runLoad(context.Background(), lc, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		sent := uint64(len(f.sets))
		f.mu.Unlock()
		if res.errors != 0 || res.h.Count() != sent {
			t.Errorf("pipeline %d: %d counted, %d errors; the server answered %d", pipe, res.h.Count(), res.errors, sent)
		}
		if want := sent / 5; res.permFailed < want-3 || res.permFailed > want+3 {
			t.Errorf("pipeline %d: %d not permanent of %d, want about a fifth", pipe, res.permFailed, sent)
		}
	}
}
