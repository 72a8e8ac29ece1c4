package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGroup is a few fake sites answering like repnode: one master (or
// none) takes writes; the others answer 503 naming it.
type fakeGroup struct {
	mu     sync.Mutex
	master int // index of the master in sites; -1 none
	sites  []*httptest.Server
	data   map[string]string
	writes int
	tokens []string // the token of each GET
}

func newFakeGroup(t testing.TB, n int) *fakeGroup {
	g := &fakeGroup{master: 0, data: map[string]string{}}
	for i := range n {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { g.serve(i, w, r) }))
		t.Cleanup(srv.Close)
		g.sites = append(g.sites, srv)
	}
	return g
}

func (g *fakeGroup) addr(i int) string { return strings.TrimPrefix(g.sites[i].URL, "http://") }

func (g *fakeGroup) setMaster(i int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.master = i
}

func (g *fakeGroup) serve(i int, w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	masterHTTP := ""
	if g.master >= 0 {
		masterHTTP = g.addr(g.master)
	}
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/v1/status" {
		role := "client"
		if i == g.master {
			role = "master"
		}
		json.NewEncoder(w).Encode(map[string]any{"id": i + 1, "role": role, "master_http": masterHTTP,
			"election": map[string]bool{"can_write": role == "master"}})
		return
	}
	key := strings.TrimPrefix(r.URL.Path, "/v1/kv/")
	switch r.Method {
	case http.MethodPut, http.MethodDelete:
		if i != g.master {
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(map[string]any{"error": "not the master", "master_http": masterHTTP})
			return
		}
		g.writes++
		b, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPut {
			g.data[key] = string(b)
		} else {
			delete(g.data, key)
		}
		json.NewEncoder(w).Encode(Result{LSN: "1/100", Gen: 3, Token: "3:1/100:abcd", Permanent: true})
	case http.MethodGet:
		g.tokens = append(g.tokens, r.URL.Query().Get("token"))
		v, ok := g.data[key]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]string{"error": "not found"})
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		io.WriteString(w, v)
	}
}

func fastConfig(sites ...string) Config {
	return Config{Sites: sites, MaxAttempts: 6, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
}

func TestWritesFindTheMasterFromAClientSite(t *testing.T) {
	g := newFakeGroup(t, 3)
	g.setMaster(2)
	c, err := New(fastConfig(g.addr(0))) // only a client site is configured
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Put(t.Context(), "b", "k", []byte("v"))
	if err != nil || res.Token == "" {
		t.Fatalf("Put: %+v %v", res, err)
	}
	if m, _ := c.Master(t.Context()); m != g.addr(2) {
		t.Fatalf("master %s, want %s", m, g.addr(2))
	}
	v, err := c.GetAfter(t.Context(), "b", "k", res.Token)
	if err != nil || string(v) != "v" || g.tokens[len(g.tokens)-1] != res.Token {
		t.Fatalf("GetAfter: %q %v, token sent %v", v, err, g.tokens)
	}
	if _, err := c.Get(t.Context(), "b", "none"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing key: %v", err)
	}
	if _, err := c.Delete(t.Context(), "b", "k"); err != nil {
		t.Fatal(err)
	}
}

func TestWritesFollowTheMasterAcrossAFailover(t *testing.T) {
	g := newFakeGroup(t, 3)
	c, _ := New(fastConfig(g.addr(0), g.addr(1), g.addr(2)))
	if _, err := c.Put(t.Context(), "b", "k1", []byte("1")); err != nil {
		t.Fatal(err)
	}
	// The master dies; site 1 takes over. The client's next write goes to
	// the old master (unreachable), then finds the new one.
	g.sites[0].Close()
	g.setMaster(1)
	if _, err := c.Put(t.Context(), "b", "k2", []byte("2")); err != nil {
		t.Fatalf("Put after failover: %v", err)
	}
	if m, _ := c.Master(t.Context()); m != g.addr(1) {
		t.Fatalf("master %s, want %s", m, g.addr(1))
	}
	// A moved master named in a 503 is followed at once.
	g.setMaster(2)
	if _, err := c.Put(t.Context(), "b", "k3", []byte("3")); err != nil {
		t.Fatal(err)
	}
	if m, _ := c.Master(t.Context()); m != g.addr(2) {
		t.Fatalf("master %s, want %s", m, g.addr(2))
	}
}

func TestNoMasterIsBoundedAndWaitsOutAnElection(t *testing.T) {
	g := newFakeGroup(t, 2)
	g.setMaster(-1)
	c, _ := New(fastConfig(g.addr(0), g.addr(1)))
	if _, err := c.Put(t.Context(), "b", "k", []byte("v")); !errors.Is(err, ErrNoMaster) {
		t.Fatalf("no master: %v, want ErrNoMaster", err)
	}
	if g.writes != 0 {
		t.Fatalf("%d writes done with no master", g.writes)
	}
	// The election ends while the client retries.
	cfg := fastConfig(g.addr(0), g.addr(1))
	cfg.MaxAttempts, cfg.Backoff, cfg.MaxBackoff = 50, 5*time.Millisecond, 5*time.Millisecond
	c, _ = New(cfg)
	time.AfterFunc(30*time.Millisecond, func() { g.setMaster(1) })
	if _, err := c.Put(t.Context(), "b", "k", []byte("v")); err != nil {
		t.Fatalf("Put once an election ended: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Put(ctx, "b", "k", []byte("v")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with an ended context: %v", err)
	}
	if _, err := New(Config{}); err == nil {
		t.Fatal("New with no sites succeeded")
	}
}
