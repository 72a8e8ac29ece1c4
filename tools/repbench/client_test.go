package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParsePermanent(t *testing.T) {
	cases := []struct {
		body    string
		want    bool
		wantErr bool
	}{
		{`{"lsn":"1/4096","permanent":true}`, true, false},
		{"{\n  \"lsn\": \"1/4096\",\n  \"permanent\": false\n}\n", false, false},
		{"{\"permanent\"\t:\n true}", true, false},
		{`{"lsn":"1/4096"}`, false, true},
		{`not json`, false, true},
		{`{"permanent":"yes"}`, false, true},
		{`{"permanent":null}`, false, true},
	}
	for _, c := range cases {
		got, err := parsePermanent([]byte(c.body))
		if (err != nil) != c.wantErr || (err == nil && got != c.want) {
			t.Errorf("parsePermanent(%q) = %v, %v; want %v, error %v", c.body, got, err, c.want, c.wantErr)
		}
	}
}

// A fake site: enough of repnode's HTTP interface to test put and
// findMaster against.
func fakeSite(t *testing.T, st status, perm bool) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(st)
	})
	mux.HandleFunc("PUT /v1/kv/{bucket}/{key...}", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if st.Role != "master" {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":"not the master"}`))
			return
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(map[string]any{"lsn": "1/100", "permanent": perm})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestPutAndFindMaster(t *testing.T) {
	ctx := context.Background()
	c := newHTTPClient(4, 5*time.Second)
	client := fakeSite(t, status{ID: 1, Role: "client", Gen: 3}, false)
	oldMaster := fakeSite(t, status{ID: 2, Role: "master", Gen: 2}, false)
	master := fakeSite(t, status{ID: 3, Role: "master", Gen: 3}, true)
	addrs := []string{client, oldMaster, master}

	i, st, err := findMaster(ctx, c, addrs)
	if err != nil || i != 2 || st.ID != 3 {
		t.Fatalf("findMaster = %d, %+v, %v; want the newest generation's master, index 2", i, st, err)
	}
	r, err := put(ctx, c, master, "b", "k", []byte("v"))
	if err != nil || !r.permanent {
		t.Fatalf("put to master = %+v, %v; want permanent", r, err)
	}
	if r, err := put(ctx, c, oldMaster, "b", "k", []byte("v")); err != nil || r.permanent {
		t.Fatalf("put answered permanent=false = %+v, %v", r, err)
	}
	if _, err := put(ctx, c, client, "b", "k", []byte("v")); !errors.Is(err, errNotMaster) {
		t.Fatalf("put to a client: %v, want errNotMaster", err)
	}
	if _, _, err := findMaster(ctx, c, []string{client}); err == nil {
		t.Fatal("findMaster found a master among clients only")
	}
}

func TestStatusHelpers(t *testing.T) {
	var st status
	if err := json.Unmarshal([]byte(`{"id":1,"role":"master","sites":[
		{"id":2,"connected":true,"lag_bytes":10},{"id":3,"connected":false,"lag_bytes":4096}]}`), &st); err != nil {
		t.Fatal(err)
	}
	if st.maxLag() != 4096 {
		t.Errorf("maxLag = %d, want 4096", st.maxLag())
	}
	if st.allConnected() {
		t.Error("allConnected with site 3 disconnected")
	}
}

// TestKVConn: the lean connection writes, reads the answer, tells a
// client's 503 apart, and opens a new connection when the site closed
// the old one.
func TestKVConn(t *testing.T) {
	ctx := context.Background()
	master := fakeSite(t, status{ID: 3, Role: "master", Gen: 3}, true)
	k := newKVConn(master, 5*time.Second)
	defer k.close()
	for i := range 3 {
		r, err := k.put(ctx, "b", "k"+strconv.Itoa(i), []byte("value"))
		if err != nil || !r.permanent {
			t.Fatalf("put %d = %+v, %v; want permanent", i, r, err)
		}
	}
	first := k.nc
	if first == nil {
		t.Fatal("no connection kept after a keep-alive answer")
	}
	if _, err := k.put(ctx, "b", "again", []byte("v")); err != nil || k.nc != first {
		t.Fatalf("put on the kept connection: %v (connection reused: %v)", err, k.nc == first)
	}

	client := fakeSite(t, status{ID: 1, Role: "client", Gen: 3}, false)
	kc := newKVConn(client, 5*time.Second)
	defer kc.close()
	if _, err := kc.put(ctx, "b", "k", []byte("v")); !errors.Is(err, errNotMaster) {
		t.Fatalf("put to a client: %v, want errNotMaster", err)
	}

	// A site that answers and closes: the next put reconnects.
	var seen atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if string(body) != "payload" || r.Method != http.MethodPut || r.URL.Path != "/v1/kv/b/key" {
			t.Errorf("got %s %s %q", r.Method, r.URL.Path, body)
		}
		seen.Add(1)
		w.Header().Set("Connection", "close")
		w.Write([]byte(`{"lsn":"1/1","permanent":true}`))
	}))
	defer srv.Close()
	kc2 := newKVConn(strings.TrimPrefix(srv.URL, "http://"), 5*time.Second)
	defer kc2.close()
	for i := range 3 {
		if r, err := kc2.put(ctx, "b", "key", []byte("payload")); err != nil || !r.permanent {
			t.Fatalf("put %d to a closing site = %+v, %v", i, r, err)
		}
		if kc2.nc != nil {
			t.Fatal("kept a connection the site closed")
		}
	}
	if seen.Load() != 3 {
		t.Fatalf("site saw %d requests, want 3", seen.Load())
	}

	srv.Close()
	if _, err := kc2.put(ctx, "b", "key", []byte("payload")); err == nil {
		t.Fatal("put to a stopped site succeeded")
	}
}
