package main

// The RESP side (--proto resp): one connection per writer to the master's
// --resp listener, SET key value per request, pipelined --pipeline deep.
// A hand-written client: SET and its one-line answers are all it needs,
// and like kvConn it sends a batch in one write(2) and reads the answers
// on the writer's own goroutine (the load generator shares the CPUs with
// the sites it measures).
//
// The answers, as repnode's RESP listener gives them: +OK once the write
// is permanent under the ack policy; -NOTPERMANENT ... when it committed
// on the master but did not get its acks in time; -READONLY ... from a
// site that is not the master; any other -ERR is an error.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// respError is an error answer (a '-' line) other than NOTPERMANENT.
type respError struct{ msg string }

func (e *respError) Error() string { return "RESP: " + e.msg }

// respConn is one writer's connection.
type respConn struct {
	addr    string
	timeout time.Duration
	nc      net.Conn
	br      *bufio.Reader
	buf     []byte
}

func newRESPConn(addr string, timeout time.Duration) *respConn {
	return &respConn{addr: addr, timeout: timeout}
}

// appendBulk appends a RESP bulk string.
func appendBulk(b []byte, s []byte) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, '\r', '\n')
	b = append(b, s...)
	return append(b, '\r', '\n')
}

// appendSet appends SET key value as a RESP array.
func appendSet(b []byte, key, value []byte) []byte {
	b = append(b, "*3\r\n$3\r\nSET\r\n"...)
	b = appendBulk(b, key)
	return appendBulk(b, value)
}

// batch sends SET for every key in one write and reads the answers in
// order, filling out[i] as each arrives. A connection error fails the rest
// of the batch and drops the connection (the next batch dials again).
func (r *respConn) batch(ctx context.Context, keys [][]byte, value []byte, out []reply) {
	fail := func(from int, err error) {
		now := time.Now()
		for i := from; i < len(keys); i++ {
			out[i] = reply{at: now, err: err}
		}
		r.close()
	}
	if r.nc == nil {
		d := net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}
		nc, err := d.DialContext(ctx, "tcp", r.addr)
		if err != nil {
			fail(0, err)
			return
		}
		r.nc, r.br = nc, bufio.NewReaderSize(nc, 4096)
	}
	deadline := time.Now().Add(r.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := r.nc.SetDeadline(deadline); err != nil {
		fail(0, err)
		return
	}
	r.buf = r.buf[:0]
	for _, k := range keys {
		r.buf = appendSet(r.buf, k, value)
	}
	if _, err := r.nc.Write(r.buf); err != nil {
		fail(0, err)
		return
	}
	for i := range keys {
		perm, err := r.readSetAnswer()
		var re *respError
		if err != nil && !errors.As(err, &re) {
			fail(i, err)
			return
		}
		out[i] = reply{at: time.Now(), perm: perm, err: err}
	}
}

// readSetAnswer reads one answer to a SET: permanent for +OK, not
// permanent for -NOTPERMANENT, a *respError for another error line (the
// connection stays usable), any other error for a broken stream.
func (r *respConn) readSetAnswer() (perm bool, err error) {
	line, err := r.readLine()
	if err != nil {
		return false, err
	}
	if len(line) == 0 {
		return false, errors.New("RESP: empty line")
	}
	switch line[0] {
	case '+':
		if line[1:] == "OK" {
			return true, nil
		}
		return false, &respError{msg: "unexpected answer to SET: +" + line[1:]}
	case '-':
		if strings.HasPrefix(line[1:], "NOTPERMANENT") {
			return false, nil
		}
		if strings.HasPrefix(line[1:], "READONLY") {
			return false, fmt.Errorf("%w: %w", errNotMaster, &respError{msg: line[1:]})
		}
		return false, &respError{msg: line[1:]}
	case ':':
		return false, &respError{msg: "unexpected answer to SET: " + line}
	case '$', '*':
		// Not an answer SET has; skip it whole so the stream stays in step.
		if err := r.skip(line); err != nil {
			return false, err
		}
		return false, &respError{msg: "unexpected answer to SET: " + line}
	}
	return false, fmt.Errorf("RESP: bad answer %q", truncate([]byte(line), 80))
}

// skip reads the rest of a bulk string or array whose header is line.
func (r *respConn) skip(line string) error {
	n, err := strconv.Atoi(line[1:])
	if err != nil {
		return fmt.Errorf("RESP: bad header %q", truncate([]byte(line), 80))
	}
	if n < 0 {
		return nil // a null
	}
	if line[0] == '$' {
		_, err := r.br.Discard(n + 2)
		return err
	}
	for range n {
		l, err := r.readLine()
		if err != nil {
			return err
		}
		if len(l) > 0 && (l[0] == '$' || l[0] == '*') {
			if err := r.skip(l); err != nil {
				return err
			}
		}
	}
	return nil
}

// readLine reads a CRLF-terminated line, without the CRLF.
func (r *respConn) readLine() (string, error) {
	b, err := r.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return "", errors.New("RESP: line longer than 4 KiB")
		}
		return "", err
	}
	if len(b) < 2 || b[len(b)-2] != '\r' {
		return "", fmt.Errorf("RESP: line %q not ended by CRLF", truncate(b, 80))
	}
	return string(b[:len(b)-2]), nil
}

func (r *respConn) close() {
	if r.nc != nil {
		r.nc.Close()
		r.nc, r.br = nil, nil
	}
}
