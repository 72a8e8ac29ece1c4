package main

// Every request repadmin sends to a repnode goes through newRequest and
// httpClientFor, so that credentials (a bearer token, TLS) hook in at one
// place.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"logship/cmd/internal/api"
)

// defaultRequestTimeout bounds a call when --timeout is not given: an
// operator tool must not hang.
const defaultRequestTimeout = 5 * time.Second

// requestTimeout is the limit of one call (--timeout); dispatch sets it
// for each run.
var requestTimeout = defaultRequestTimeout

// httpClientFor is the client for a call bounded by limit, with the TLS
// settings of the flags (client.go).
func httpClientFor(limit time.Duration) *http.Client {
	c := &http.Client{Timeout: limit}
	if remote.transport != nil {
		c.Transport = remote.transport
	}
	return c
}

// call sends a request to the node's HTTP API (body nil: empty), decodes a
// 200 answer into out (if not nil), and turns failures into messages that
// say what to check.
func call(method, node, path string, body, out any) error {
	return callWithin(requestTimeout, method, node, path, body, out)
}

// transferTimeout bounds POST /v1/admin/transfer, which answers only once
// the target is master or the transfer failed (a few election timeouts).
const transferTimeout = 60 * time.Second

// callWithin is call with its own time limit.
func callWithin(limit time.Duration, method, node, path string, body, out any) error {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := newRequest(method, node, path, rd) // client.go: scheme, token
	if err != nil {
		return fmt.Errorf("--node %q: %w", node, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClientFor(limit).Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach repnode at %s: %v (is it running, and is --node its --http address?)", node, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("%s%s: read answer: %w", node, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		herr := &httpError{Code: resp.StatusCode, msg: fmt.Sprintf("%s%s: %s", node, path, resp.Status)}
		var e api.ErrorBody
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			herr.msg += ": " + e.Error
			herr.Body = e
		}
		herr.msg += authHint(resp.StatusCode)
		return herr
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s%s: not a repnode answer: %w", node, path, err)
		}
	}
	return nil
}

// httpError is an answer other than 200 OK, so a command can tell, say,
// an old repnode without an endpoint (404) from a refusal.
type httpError struct {
	Code int
	Body api.ErrorBody
	msg  string
}

func (e *httpError) Error() string { return e.msg }
