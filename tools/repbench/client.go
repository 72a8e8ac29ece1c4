package main

// The HTTP side: one keep-alive client, PUT, /v1/status and finding the
// master. The JSON shapes are repnode's external interface (design brief,
// "External interface"); only the fields used here are declared.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// status is the part of GET /v1/status repbench reads.
type status struct {
	ID     uint64 `json:"id"`
	Role   string `json:"role"`
	Master uint64 `json:"master"`
	Gen    uint64 `json:"gen"`
	LSN    string `json:"lsn"`
	Ack    string `json:"ack"`
	// AppliedLSN and SyncState tell the resync mode when a client has
	// caught up.
	AppliedLSN string `json:"applied_lsn"`
	SyncState  string `json:"sync_state"`
	InitDone   int64  `json:"init_done"`
	InitTotal  int64  `json:"init_total"`
	Sites      []struct {
		ID        uint64 `json:"id"`
		Connected bool   `json:"connected"`
		LagBytes  int64  `json:"lag_bytes"`
	} `json:"sites"`
}

// maxLag returns the largest lag_bytes over the sites a status lists.
func (s status) maxLag() int64 {
	var m int64
	for _, site := range s.Sites {
		m = max(m, site.LagBytes)
	}
	return m
}

// allConnected reports whether every other site is connected.
func (s status) allConnected() bool {
	for _, site := range s.Sites {
		if !site.Connected {
			return false
		}
	}
	return true
}

// newHTTPClient returns a client whose transport keeps at least conns idle
// connections per host, so each writer reuses its own connection.
func newHTTPClient(conns int, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0, // no global limit
		MaxIdleConnsPerHost: max(conns, 2),
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: withToken(tr), Timeout: timeout}
}

// errNotMaster is a 503 answer to a write: the site is not (or no longer)
// the master.
var errNotMaster = errors.New("not the master")

// putResult is one answered PUT.
type putResult struct {
	permanent bool
}

// put writes value under bucket/key at addr (host:port). A non-200 answer
// is an error; 503 wraps errNotMaster. The body is always read to its end
// so the connection goes back to the pool.
func put(ctx context.Context, c *http.Client, addr, bucket, key string, value []byte) (putResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+addr+"/v1/kv/"+bucket+"/"+key, bytes.NewReader(value))
	if err != nil {
		return putResult{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return putResult{}, err
	}
	return putAnswer(addr, resp)
}

// putAnswer reads a write's answer to its end and interprets it.
func putAnswer(addr string, resp *http.Response) (putResult, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if err != nil {
		return putResult{}, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusServiceUnavailable:
		return putResult{}, fmt.Errorf("%w: %s", errNotMaster, bytes.TrimSpace(body))
	default:
		return putResult{}, fmt.Errorf("PUT %s: %s: %s", addr, resp.Status, bytes.TrimSpace(body))
	}
	perm, err := parsePermanent(body)
	if err != nil {
		return putResult{}, err
	}
	return putResult{permanent: perm}, nil
}

// kvConn is one writer's own keep-alive HTTP/1.1 connection to a site. A
// request goes out whole in one write(2) and its answer is read by the
// writer's own goroutine. net/http's client instead hands every request to
// two goroutines it keeps per connection; measured with pprof while
// repbench shared this 2-core machine with the three sites it loads, that
// cost about as much CPU per request as a client site spends on a commit.
// pgbench, the PostgreSQL anchor's load generator, is as lean as this.
type kvConn struct {
	addr    string
	timeout time.Duration
	nc      net.Conn
	br      *bufio.Reader
	req     []byte
}

func newKVConn(addr string, timeout time.Duration) *kvConn {
	return &kvConn{addr: addr, timeout: timeout}
}

// put is the package's put over this connection, which it opens when
// needed and drops after any error or an answer that closes it.
func (k *kvConn) put(ctx context.Context, bucket, key string, value []byte) (putResult, error) {
	if k.nc == nil {
		d := net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}
		nc, err := d.DialContext(ctx, "tcp", k.addr)
		if err != nil {
			return putResult{}, err
		}
		k.nc = nc
		k.br = bufio.NewReaderSize(nc, 4096)
	}
	deadline := time.Now().Add(k.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	k.req = append(k.req[:0], "PUT /v1/kv/"...)
	k.req = append(k.req, bucket...)
	k.req = append(k.req, '/')
	k.req = append(k.req, key...)
	k.req = append(k.req, " HTTP/1.1\r\nHost: "...)
	k.req = append(k.req, k.addr...)
	k.req = append(k.req, "\r\nContent-Type: application/octet-stream\r\nContent-Length: "...)
	k.req = strconv.AppendInt(k.req, int64(len(value)), 10)
	k.req = append(k.req, "\r\n\r\n"...)
	k.req = append(k.req, value...)
	r, err := k.roundTrip(deadline)
	if err != nil {
		k.close()
	}
	return r, err
}

func (k *kvConn) roundTrip(deadline time.Time) (putResult, error) {
	if err := k.nc.SetDeadline(deadline); err != nil {
		return putResult{}, err
	}
	if _, err := k.nc.Write(k.req); err != nil {
		return putResult{}, err
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return putResult{}, err
	}
	closing := resp.Close
	r, err := putAnswer(k.addr, resp)
	if err == nil && closing {
		k.close()
	}
	return r, err
}

// close drops the connection; the next put opens another.
func (k *kvConn) close() {
	if k.nc != nil {
		k.nc.Close()
		k.nc, k.br = nil, nil
	}
}

// parsePermanent reads the "permanent" field of a write answer. It scans
// for the field instead of decoding the whole body (the load generator
// shares the CPUs with the sites it measures), and falls back to
// encoding/json when the body is not shaped as expected.
func parsePermanent(body []byte) (bool, error) {
	const field = `"permanent"`
	if i := bytes.Index(body, []byte(field)); i >= 0 {
		rest := bytes.TrimLeft(body[i+len(field):], " \t\r\n")
		if len(rest) > 0 && rest[0] == ':' {
			rest = bytes.TrimLeft(rest[1:], " \t\r\n")
			switch {
			case bytes.HasPrefix(rest, []byte("true")):
				return true, nil
			case bytes.HasPrefix(rest, []byte("false")):
				return false, nil
			}
		}
	}
	var out struct {
		Permanent *bool `json:"permanent"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return false, fmt.Errorf("write answer %q: %v", truncate(body, 200), err)
	}
	if out.Permanent == nil {
		return false, fmt.Errorf("write answer %q has no \"permanent\"", truncate(body, 200))
	}
	return *out.Permanent, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// getStatus fetches GET /v1/status from addr.
func getStatus(ctx context.Context, c *http.Client, addr string) (status, error) {
	var st status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/status", nil)
	if err != nil {
		return st, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return st, err
	}
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET %s/v1/status: %s: %s", addr, resp.Status, bytes.TrimSpace(body))
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("GET %s/v1/status: %v", addr, err)
	}
	return st, nil
}

// findMaster asks every address for its status and returns the index of
// the master (the one of the highest generation if several say so), with
// its status.
func findMaster(ctx context.Context, c *http.Client, addrs []string) (int, status, error) {
	best, bestSt := -1, status{}
	var errs []string
	for i, a := range addrs {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := getStatus(sctx, c, a)
		cancel()
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if st.Role == "master" && (best < 0 || st.Gen > bestSt.Gen) {
			best, bestSt = i, st
		}
	}
	if best < 0 {
		msg := "no site answers role=master"
		if len(errs) > 0 {
			msg += " (" + strings.Join(errs, "; ") + ")"
		}
		return -1, status{}, errors.New(msg)
	}
	return best, bestSt, nil
}

// waitMaster polls until a master is found whose other sites are all
// connected (when needConnected), or d passes, or abort (if not nil)
// returns an error (say, a site of a spawned group died).
func waitMaster(ctx context.Context, c *http.Client, addrs []string, needConnected bool, d time.Duration, abort func() error) (int, status, error) {
	deadline := time.Now().Add(d)
	for {
		if abort != nil {
			if err := abort(); err != nil {
				return -1, status{}, err
			}
		}
		i, st, err := findMaster(ctx, c, addrs)
		if err == nil && (!needConnected || st.allConnected()) {
			return i, st, nil
		}
		if err == nil {
			err = fmt.Errorf("master %s: not every site is connected yet", addrs[i])
		}
		if time.Now().After(deadline) {
			return -1, status{}, fmt.Errorf("no master after %v: %w", d, err)
		}
		select {
		case <-ctx.Done():
			return -1, status{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
