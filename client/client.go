// Package client is a Go client for a logship replication group's HTTP
// API. It finds the master from any site (a client site's 503 names the
// master's HTTP address, /v1/status too), follows it across a failover,
// and reads your own writes on any site with the write's token.
//
//	c, err := client.New(client.Config{Sites: []string{"10.0.0.1:8080", "10.0.0.2:8080"}})
//	res, err := c.Put(ctx, "orders", "42", []byte("shipped"))
//	v, err := c.GetAfter(ctx, "orders", "42", res.Token) // sees the write
//
// Writes are retried, bounded by Config.MaxAttempts and the context,
// when no site was the master (an election is on), when the site asked
// was not the master, and when a site could not be reached. A Put or
// Delete retried after its request reached a master that then failed may
// be applied twice: both are idempotent for the key's final value.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Errors a caller can branch on.
var (
	// ErrNotFound: the key has no value (404).
	ErrNotFound = errors.New("client: not found")
	// ErrNoMaster: no site was a master that accepts writes within the
	// attempts allowed.
	ErrNoMaster = errors.New("client: no master found")
	// ErrRolledBack: the write a token names was rolled back on the site
	// read (410): it is not in the group's history.
	ErrRolledBack = errors.New("client: the write was rolled back")
)

// Config configures a Client.
type Config struct {
	// Sites are HTTP addresses ("host:port") of sites of the group; any
	// one that answers is enough to find the master. Required.
	Sites []string
	// ReadFrom is the site reads go to (say, the replica next to the
	// application); empty: the master.
	ReadFrom string
	// HTTPClient sends the requests (default: one with a 10 s timeout).
	HTTPClient *http.Client
	// MaxAttempts bounds the tries of one operation (default 10).
	MaxAttempts int
	// Backoff is the first wait between tries, doubled up to MaxBackoff
	// (defaults 50 ms and 1 s).
	Backoff, MaxBackoff time.Duration
}

// Result answers a write: its LSN and generation, the token that reads
// it back on any site (GetAfter), and whether it is permanent under the
// group's ack policy.
type Result struct {
	LSN       string `json:"lsn"`
	Gen       uint64 `json:"gen"`
	Token     string `json:"token"`
	Permanent bool   `json:"permanent"`
}

// Error is an answer the client does not retry: the site's status and
// message.
type Error struct {
	Site   string
	Status int
	Msg    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("client: %s answered %d: %s", e.Site, e.Status, e.Msg)
}

// Client talks to one group. It is safe for concurrent use.
type Client struct {
	cfg  Config
	hc   *http.Client
	mu   sync.Mutex
	mstr string          // the master's HTTP address, when known
	seen map[string]bool // every site address known (configured or learned)
}

// New returns a client for the group whose sites include cfg.Sites. It
// sends nothing until the first call.
func New(cfg Config) (*Client, error) {
	if len(cfg.Sites) == 0 {
		return nil, errors.New("client: Config.Sites is empty: give at least one site's HTTP address")
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 50 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.Backoff {
		cfg.MaxBackoff = max(time.Second, cfg.Backoff)
	}
	c := &Client{cfg: cfg, hc: cfg.HTTPClient, seen: map[string]bool{}}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: 10 * time.Second}
	}
	for _, s := range cfg.Sites {
		c.seen[hostPort(s)] = true
	}
	return c, nil
}

// hostPort accepts "host:port" or "http://host:port".
func hostPort(s string) string { return strings.TrimSuffix(strings.TrimPrefix(s, "http://"), "/") }

// Master returns the master's HTTP address the client uses, finding it
// if it knows none.
func (c *Client) Master(ctx context.Context) (string, error) {
	if m := c.master(); m != "" {
		return m, nil
	}
	return c.discover(ctx)
}

func (c *Client) master() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mstr
}

func (c *Client) setMaster(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mstr = addr
	if addr != "" {
		c.seen[addr] = true
	}
}

func (c *Client) sites() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.seen))
	for _, s := range c.cfg.Sites { // configured first, in order
		out = append(out, hostPort(s))
	}
	for s := range c.seen {
		if !contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// status is the part of /v1/status the client reads.
type status struct {
	ID         uint64 `json:"id"`
	Role       string `json:"role"`
	Master     uint64 `json:"master"`
	MasterHTTP string `json:"master_http"`
	HTTPAddr   string `json:"http_addr"`
	Election   *struct {
		CanWrite bool `json:"can_write"`
	} `json:"election"`
	Sites []struct {
		HTTPAddr string `json:"http_addr"`
	} `json:"sites"`
}

// discover asks the sites it knows for the master: one that is master,
// or the master_http one names. It learns every address a status names.
func (c *Client) discover(ctx context.Context) (string, error) {
	var lastErr error
	for _, s := range c.sites() {
		var st status
		if err := c.getJSON(ctx, s, "/v1/status", &st); err != nil {
			lastErr = err
			continue
		}
		c.mu.Lock()
		for _, x := range st.Sites {
			if x.HTTPAddr != "" {
				c.seen[x.HTTPAddr] = true
			}
		}
		c.mu.Unlock()
		switch {
		case st.Role == "master" && (st.Election == nil || st.Election.CanWrite):
			c.setMaster(s)
			return s, nil
		case st.Role != "master" && st.MasterHTTP != "":
			c.setMaster(st.MasterHTTP)
			return st.MasterHTTP, nil
		}
	}
	if lastErr != nil {
		return "", fmt.Errorf("%w: %v", ErrNoMaster, lastErr)
	}
	return "", ErrNoMaster
}

func (c *Client) getJSON(ctx context.Context, site, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+site+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s%s: %s", site, path, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(out)
}

// errorBody is the JSON of an error answer.
type errorBody struct {
	Error      string `json:"error"`
	Master     uint64 `json:"master"`
	MasterHTTP string `json:"master_http"`
}

// Put writes value under bucket/key on the master.
func (c *Client) Put(ctx context.Context, bucket, key string, value []byte) (Result, error) {
	return c.write(ctx, http.MethodPut, bucket, key, value)
}

// Delete removes bucket/key on the master.
func (c *Client) Delete(ctx context.Context, bucket, key string) (Result, error) {
	return c.write(ctx, http.MethodDelete, bucket, key, nil)
}

func kvPath(bucket, key string) string {
	return "/v1/kv/" + url.PathEscape(bucket) + "/" + url.PathEscape(key)
}

func (c *Client) write(ctx context.Context, method, bucket, key string, value []byte) (Result, error) {
	wait := c.cfg.Backoff
	var lastErr error
	for attempt := 0; attempt < c.cfg.MaxAttempts; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, wait); err != nil {
				return Result{}, err
			}
			wait = min(2*wait, c.cfg.MaxBackoff)
		}
		m, err := c.Master(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return Result{}, ctx.Err()
			}
			// No status named a master: send the write to a site in turn.
			// One that is not the master refuses it (503) and names the
			// master if it knows one.
			sites := c.sites()
			m, lastErr = sites[attempt%len(sites)], err
		}
		res, retry, err := c.writeAt(ctx, m, method, bucket, key, value)
		if err == nil || !retry {
			return res, err
		}
		lastErr = err
	}
	return Result{}, fmt.Errorf("%w after %d attempts: %v", ErrNoMaster, c.cfg.MaxAttempts, lastErr)
}

// writeAt sends one write to site; retry says whether another site (or
// a later try) may succeed.
func (c *Client) writeAt(ctx context.Context, site, method, bucket, key string, value []byte) (res Result, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+site+kvPath(bucket, key), bytes.NewReader(value))
	if err != nil {
		return Result{}, false, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, false, ctx.Err()
		}
		c.setMaster("") // unreachable: find the master again
		return Result{}, true, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Result{}, true, err
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &res); err != nil {
			return Result{}, false, fmt.Errorf("client: %s: not a write answer: %w", site, err)
		}
		return res, false, nil
	}
	var eb errorBody
	_ = json.Unmarshal(body, &eb)
	if resp.StatusCode == http.StatusServiceUnavailable {
		// Not the master (or no master, or shutting down): follow the
		// master it names, else look again.
		if eb.MasterHTTP != "" && eb.MasterHTTP != site {
			c.setMaster(eb.MasterHTTP)
		} else {
			c.setMaster("")
		}
		return Result{}, true, &Error{Site: site, Status: resp.StatusCode, Msg: eb.Error}
	}
	return Result{}, false, &Error{Site: site, Status: resp.StatusCode, Msg: eb.Error}
}

// Get reads bucket/key at Config.ReadFrom, or the master. The site may
// not have applied your latest write yet: GetAfter waits for it.
func (c *Client) Get(ctx context.Context, bucket, key string) ([]byte, error) {
	return c.GetAfter(ctx, bucket, key, "")
}

// GetAfter reads bucket/key once the write token names (Result.Token) is
// applied at the site read (read-your-writes), waiting up to the site's
// --read-timeout. An empty token reads at once.
func (c *Client) GetAfter(ctx context.Context, bucket, key, token string) ([]byte, error) {
	wait := c.cfg.Backoff
	var lastErr error
	for attempt := 0; attempt < c.cfg.MaxAttempts; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, wait); err != nil {
				return nil, err
			}
			wait = min(2*wait, c.cfg.MaxBackoff)
		}
		site := hostPort(c.cfg.ReadFrom)
		if site == "" {
			m, err := c.Master(ctx)
			if err != nil {
				lastErr = err
				continue
			}
			site = m
		}
		v, retry, err := c.getAt(ctx, site, bucket, key, token)
		if err == nil || !retry {
			return v, err
		}
		lastErr = err
	}
	return nil, fmt.Errorf("client: read %s/%s: no site answered in %d attempts: %w", bucket, key, c.cfg.MaxAttempts, lastErr)
}

func (c *Client) getAt(ctx context.Context, site, bucket, key, token string) ([]byte, bool, error) {
	u := "http://" + site + kvPath(bucket, key)
	if token != "" {
		u += "?token=" + url.QueryEscape(token)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, false, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		if c.cfg.ReadFrom == "" {
			c.setMaster("")
		}
		return nil, true, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, true, err
	}
	var eb errorBody
	switch resp.StatusCode {
	case http.StatusOK:
		return body, false, nil
	case http.StatusNotFound:
		return nil, false, ErrNotFound
	case http.StatusGone:
		_ = json.Unmarshal(body, &eb)
		return nil, false, fmt.Errorf("%w: %s", ErrRolledBack, eb.Error)
	case http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		_ = json.Unmarshal(body, &eb)
		if c.cfg.ReadFrom == "" {
			c.setMaster("")
		}
		return nil, true, &Error{Site: site, Status: resp.StatusCode, Msg: eb.Error}
	}
	_ = json.Unmarshal(body, &eb)
	return nil, false, &Error{Site: site, Status: resp.StatusCode, Msg: eb.Error}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
