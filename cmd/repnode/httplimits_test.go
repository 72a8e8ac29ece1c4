package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// closedWithin reads c until it ends and fails unless the server closed
// it within d (a read timing out means the server kept it open).
func closedWithin(t *testing.T, what string, c net.Conn, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("%s: still open after %v", what, d)
	}
}

// TestHTTPServerLimits: a client that sends half its headers, one that
// sends half its body and one that stays idle after a request hold all
// --http-max-conns connections; the server closes each after
// --http-read-timeout or --http-idle-timeout, and a normal client waiting
// behind them is served.
func TestHTTPServerLimits(t *testing.T) {
	_, url := startFront(t, func(c *Config) {
		c.HTTPReadTimeout, c.HTTPIdleTimeout, c.HTTPWriteTimeout = 300*time.Millisecond, 300*time.Millisecond, 5*time.Second
		c.HTTPMaxConns = 3
	})
	addr := url[len("http://"):]
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	slowHeader := dial()
	if _, err := io.WriteString(slowHeader, "GET /v1/status HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	slowBody := dial()
	if _, err := io.WriteString(slowBody, "PUT /v1/kv/b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"); err != nil {
		t.Fatal(err)
	}
	idle := dial()
	if _, err := io.WriteString(idle, "GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("idle client's request: %d", resp.StatusCode)
	}

	start := time.Now()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	got, err := c.Get(url + "/v1/status")
	if err != nil {
		t.Fatalf("a client behind three stalled connections was not served: %v", err)
	}
	got.Body.Close()
	if got.StatusCode != 200 {
		t.Fatalf("status %d", got.StatusCode)
	}
	t.Logf("served after %v", time.Since(start))
	closedWithin(t, "slow-header connection", slowHeader, 3*time.Second)
	closedWithin(t, "slow-body connection", slowBody, 3*time.Second)
	closedWithin(t, "idle connection", idle, 3*time.Second)
}

// TestLimitListener: with a cap of 1, a second connection is accepted
// only once the first is closed.
func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := limitListener(inner, 1)
	defer ln.Close()
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	for range 2 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first := <-accepted
	select {
	case <-accepted:
		t.Fatal("a second connection was accepted over the cap")
	case <-time.After(200 * time.Millisecond):
	}
	first.Close()
	first.Close() // a second Close must not free a second slot
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("the second connection was not accepted after the first closed")
	}
}
