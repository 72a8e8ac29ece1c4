package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/redcon"

	"logship/env"
	"logship/env/site"
	"logship/internal/testwait"
	"logship/wal/lsn"
)

// startRESPSingle runs a one-site group in-process (startSingle) with
// its RESP listener on a loopback port.
func startRESPSingle(t testing.TB, mutate func(*Config)) (*node, *respServer) {
	t.Helper()
	n, _ := startSingle(t, func(c *Config) {
		c.RESP = "127.0.0.1:0"
		if mutate != nil {
			mutate(c)
		}
	})
	return n, startRESPOn(t, n)
}

func startRESPOn(t testing.TB, n *node) *respServer {
	t.Helper()
	rs, err := n.startRESP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.close) // before the node closes (cleanups run last first)
	return rs
}

// respClient is a minimal RESP2 client: commands as arrays of bulk
// strings, replies decoded into Go values (string for +, respErr for -,
// int64 for :, []byte or nil for $, []any or nil for *).
type respClient struct {
	t  *testing.T
	c  net.Conn
	rd *bufio.Reader
}

type respErr string

func dialRESP(t *testing.T, addr string) *respClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &respClient{t: t, c: c, rd: bufio.NewReader(c)}
}

func encodeRESP(args ...string) []byte {
	b := fmt.Appendf(nil, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b
}

// send writes commands without reading (a pipeline).
func (rc *respClient) send(cmds ...[]string) {
	rc.t.Helper()
	var b []byte
	for _, c := range cmds {
		b = append(b, encodeRESP(c...)...)
	}
	rc.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := rc.c.Write(b); err != nil {
		rc.t.Fatalf("send: %v", err)
	}
}

// do sends one command and returns its reply.
func (rc *respClient) do(args ...string) any {
	rc.t.Helper()
	rc.send(args)
	return rc.read()
}

func (rc *respClient) read() any {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(15 * time.Second))
	v, err := readRESP(rc.rd)
	if err != nil {
		rc.t.Fatalf("read reply: %v", err)
	}
	return v
}

func readRESP(rd *bufio.Reader) (any, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return nil, fmt.Errorf("bad reply line %q", line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return respErr(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("bad bulk length %q", body)
		}
		if n == -1 {
			return nil, nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(rd, b); err != nil {
			return nil, err
		}
		return b[:n], nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("bad array length %q", body)
		}
		if n == -1 {
			return nil, nil
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = readRESP(rd); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("bad reply type %q", line)
}

// closedByServer reports whether the server closed the connection: a
// read ends with EOF (or a reset) within a bounded time.
func (rc *respClient) closedByServer() bool {
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := rc.rd.ReadByte()
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func wantReply(t *testing.T, what string, got, want any) {
	t.Helper()
	if b, ok := got.([]byte); ok {
		got = string(b)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: got %#v, want %#v", what, got, want)
	}
}

func wantErrPrefix(t *testing.T, what string, got any, prefix string) string {
	t.Helper()
	e, ok := got.(respErr)
	if !ok || !strings.HasPrefix(string(e), prefix) {
		t.Fatalf("%s: got %#v, want an error beginning %q", what, got, prefix)
	}
	return string(e)
}

func TestRESPCommands(t *testing.T) {
	n, rs := startRESPSingle(t, nil)
	c := dialRESP(t, rs.addr)

	wantReply(t, "PING", c.do("PING"), "PONG")
	wantReply(t, "PING msg", c.do("ping", "hi"), "hi")
	wantReply(t, "ECHO", c.do("ECHO", "a b"), "a b")
	wantReply(t, "SELECT 0", c.do("SELECT", "0"), "OK")
	wantErrPrefix(t, "SELECT 1", c.do("SELECT", "1"), "ERR DB index")

	wantReply(t, "LOGSHIP.TOKEN before a write", c.do("LOGSHIP.TOKEN"), nil)
	wantReply(t, "GET missing", c.do("GET", "k"), nil)
	wantReply(t, "SET", c.do("SET", "k", "v1"), "OK")
	wantReply(t, "GET", c.do("GET", "k"), "v1")
	e := wantErrPrefix(t, "SET with EX", c.do("SET", "k", "v2", "EX", "10"), "ERR SET option")
	if !strings.Contains(e, "EX") {
		t.Fatalf("SET EX error %q does not name the option", e)
	}
	wantReply(t, "GET after a refused SET", c.do("GET", "k"), "v1")

	// The RESP bucket is HTTP's: SET k is PUT /v1/kv/redis/k.
	err := n.site.View(func(rt *env.ReadTx) error {
		v, err := rt.Get("redis", []byte("k"))
		if string(v) != "v1" {
			t.Errorf("bucket redis, key k: %q, want v1", v)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	tokText, ok := c.do("LOGSHIP.TOKEN").([]byte)
	if !ok {
		t.Fatal("LOGSHIP.TOKEN after SET: not a bulk string")
	}
	tok, err := env.ParseToken(string(tokText))
	if err != nil || tok.LSN.IsZero() || tok.Gen == 0 {
		t.Fatalf("LOGSHIP.TOKEN %q: %v", tokText, err)
	}
	wantReply(t, "LOGSHIP.WAIT own token", c.do("LOGSHIP.WAIT", string(tokText)), "OK")
	wantReply(t, "LOGSHIP.WAIT with timeout", c.do("LOGSHIP.WAIT", string(tokText), "100"), "OK")
	wantErrPrefix(t, "LOGSHIP.WAIT bad token", c.do("LOGSHIP.WAIT", "nonsense"), "ERR token")
	wantErrPrefix(t, "LOGSHIP.WAIT bad timeout", c.do("LOGSHIP.WAIT", string(tokText), "-1"), "ERR timeout")
	future := fmt.Sprintf("%d/%d", tok.LSN.File+1, 4096)
	wantErrPrefix(t, "LOGSHIP.WAIT future LSN", c.do("LOGSHIP.WAIT", future, "50"), "TIMEOUT")

	wantReply(t, "MSET", c.do("MSET", "a", "1", "b", "2"), "OK")
	wantErrPrefix(t, "MSET odd", c.do("MSET", "a", "1", "b"), "ERR wrong number of arguments")
	wantReply(t, "MGET", c.do("MGET", "a", "nope", "b"), []any{[]byte("1"), nil, []byte("2")})
	wantReply(t, "EXISTS", c.do("EXISTS", "a", "nope", "b", "a"), int64(3))
	wantReply(t, "DEL", c.do("DEL", "a", "nope", "a", "b"), int64(2))
	wantReply(t, "DEL of none", c.do("DEL", "a", "b"), int64(0))
	wantReply(t, "EXISTS after DEL", c.do("EXISTS", "a", "b"), int64(0))

	wantReply(t, "INCR new", c.do("INCR", "n"), int64(1))
	wantReply(t, "INCRBY", c.do("INCRBY", "n", "41"), int64(42))
	wantReply(t, "DECR", c.do("DECR", "n"), int64(41))
	wantReply(t, "DECRBY", c.do("DECRBY", "n", "-9"), int64(50))
	wantReply(t, "GET counter", c.do("GET", "n"), "50")
	wantErrPrefix(t, "INCRBY non-integer", c.do("INCRBY", "n", "1.5"), "ERR value is not an integer")
	wantReply(t, "SET text", c.do("SET", "s", "abc"), "OK")
	wantErrPrefix(t, "INCR non-integer", c.do("INCR", "s"), "ERR value is not an integer")
	wantReply(t, "value after a refused INCR", c.do("GET", "s"), "abc")
	wantReply(t, "SET max", c.do("SET", "m", strconv.FormatInt(1<<63-1, 10)), "OK")
	wantErrPrefix(t, "INCR overflow", c.do("INCR", "m"), "ERR increment or decrement would overflow")

	wantErrPrefix(t, "empty key", c.do("SET", "", "x"), "ERR")
	wantErrPrefix(t, "unknown command", c.do("FLUSHALL"), "ERR unknown command 'FLUSHALL'")
	wantErrPrefix(t, "arity", c.do("GET"), "ERR wrong number of arguments for 'get'")

	role, ok := c.do("ROLE").([]any)
	if !ok || len(role) != 3 || string(role[0].([]byte)) != "master" {
		t.Fatalf("ROLE: %#v", role)
	}
	info, _ := c.do("INFO", "replication").([]byte)
	for _, want := range []string{"role:master", "logship_site_id:1", "logship_bucket:redis"} {
		if !strings.Contains(string(info), want) {
			t.Fatalf("INFO replication lacks %q:\n%s", want, info)
		}
	}
	info, _ = c.do("INFO").([]byte)
	if !strings.Contains(string(info), "redis_version:") || !strings.Contains(string(info), "# Replication") {
		t.Fatalf("INFO lacks server or replication:\n%s", info)
	}
	wantReply(t, "COMMAND COUNT", c.do("COMMAND", "COUNT"), int64(len(respCmds)))
	if all, ok := c.do("COMMAND").([]any); !ok || len(all) != len(respCmds) {
		t.Fatalf("COMMAND: %d entries, want %d", len(all), len(respCmds))
	}
	gi, ok := c.do("COMMAND", "INFO", "get", "nope").([]any)
	if !ok || len(gi) != 2 || gi[1] != nil || string(gi[0].([]any)[0].([]byte)) != "get" {
		t.Fatalf("COMMAND INFO get nope: %#v", gi)
	}
	// What redis-benchmark asks at start.
	wantReply(t, "CONFIG GET save", c.do("CONFIG", "GET", "save"), []any{[]byte("save"), []byte("")})
	wantReply(t, "CONFIG GET appendonly", c.do("CONFIG", "GET", "appendonly"), []any{[]byte("appendonly"), []byte("no")})
	wantErrPrefix(t, "CONFIG SET", c.do("CONFIG", "SET", "save", ""), "ERR CONFIG")
	wantReply(t, "CLIENT SETNAME", c.do("CLIENT", "SETNAME", "x"), "OK")
	wantErrPrefix(t, "HELLO 3", c.do("HELLO", "3"), "NOPROTO")

	// Inline commands (telnet) work too.
	c.c.Write([]byte("PING\r\n"))
	wantReply(t, "inline PING", c.read(), "PONG")

	wantReply(t, "QUIT", c.do("QUIT"), "OK")
	if !c.closedByServer() {
		t.Fatal("the connection stays open after QUIT")
	}

	// Commits and commands are counted.
	for _, want := range []string{`logship_commit_duration_seconds_count{op="resp_set",permanent="true"}`,
		`logship_resp_commands_total{command="set"}`, `logship_resp_errors_total{command="incr",kind="ERR"}`} {
		if v := scrape(t, n, want); v <= 0 {
			t.Fatalf("%s = %v, want > 0", want, v)
		}
	}
}

// scrape returns the value of one sample of n's metrics (-1 if absent).
func scrape(t *testing.T, n *node, sample string) float64 {
	t.Helper()
	mfs, err := n.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			labels := make([]string, 0, len(m.Label))
			for _, l := range m.Label {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			name := mf.GetName()
			var v float64
			switch {
			case m.Counter != nil:
				v = m.Counter.GetValue()
			case m.Gauge != nil:
				v = m.Gauge.GetValue()
			case m.Histogram != nil:
				name += "_count"
				v = float64(m.Histogram.GetSampleCount())
			}
			fmt.Fprintf(&b, "%s{%s} %v\n", name, strings.Join(labels, ","), v)
		}
	}
	for _, line := range strings.Split(b.String(), "\n") {
		if s, ok := strings.CutPrefix(line, sample+" "); ok {
			v, _ := strconv.ParseFloat(s, 64)
			return v
		}
	}
	return -1
}

// TestRESPPipeline: a pipeline's writes are all committed and answered
// in the order sent, take effect in that order, and reads in it see the
// writes before them.
func TestRESPPipeline(t *testing.T) {
	n, rs := startRESPSingle(t, nil)
	c := dialRESP(t, rs.addr)
	const writes = 300
	var cmds [][]string
	var want []any
	for i := range writes {
		cmds = append(cmds, []string{"SET", fmt.Sprintf("p%d", i), fmt.Sprintf("v%d", i)})
		want = append(want, "OK")
		cmds = append(cmds, []string{"SET", "same", strconv.Itoa(i)}) // the last one sent wins
		want = append(want, "OK")
		cmds = append(cmds, []string{"INCR", "ctr"})
		want = append(want, int64(i+1))
		if i%50 == 49 {
			cmds = append(cmds, []string{"GET", "same"})
			want = append(want, strconv.Itoa(i))
			cmds = append(cmds, []string{"GET", fmt.Sprintf("p%d", i)})
			want = append(want, fmt.Sprintf("v%d", i))
		}
	}
	st := n.env.Stats()
	c.send(cmds...)
	for i, w := range want {
		wantReply(t, fmt.Sprintf("reply %d (%v)", i, cmds[i]), c.read(), w)
	}
	after := n.env.Stats()
	if got := after.Commits - st.Commits; got != 3*writes {
		t.Fatalf("%d commits, want %d", got, 3*writes)
	}
	// The writes of a pipeline share fsyncs (one after the other, each
	// would take its own).
	if fsyncs := after.FsyncCount - st.FsyncCount; fsyncs*4 > 3*writes {
		t.Fatalf("%d fsyncs for %d pipelined commits: they did not share them", fsyncs, 3*writes)
	}
	t.Logf("%d commits, %d fsyncs", 3*writes, after.FsyncCount-st.FsyncCount)
	keys := []string{"MGET"}
	for i := range writes {
		keys = append(keys, fmt.Sprintf("p%d", i))
	}
	vals, _ := c.do(keys...).([]any)
	for i, v := range vals {
		wantReply(t, keys[i+1], v, fmt.Sprintf("v%d", i))
	}
	wantReply(t, "same", c.do("GET", "same"), strconv.Itoa(writes-1))

	// A large command grows redcon's buffer, so the small ones behind it
	// arrive as one batch of more writes than a connection may have in
	// flight (respMaxInFlight): still all answered, in order.
	big := strings.Repeat("x", 900<<10)
	cmds = [][]string{{"SET", "big", big}}
	for i := range 3 * respMaxInFlight {
		cmds = append(cmds, []string{"SET", "q", strconv.Itoa(i)})
	}
	cmds = append(cmds, []string{"GET", "q"})
	c.send(cmds...)
	for i := range 3*respMaxInFlight + 1 {
		wantReply(t, fmt.Sprintf("reply %d of the large batch", i), c.read(), "OK")
	}
	wantReply(t, "GET q after the large batch", c.read(), strconv.Itoa(3*respMaxInFlight-1))

	// LOGSHIP.TOKEN in a pipeline names the write just before it.
	c.send([]string{"SET", "t", "1"}, []string{"LOGSHIP.TOKEN"}, []string{"SET", "t", "2"}, []string{"LOGSHIP.TOKEN"})
	var toks []env.Token
	for i := range 4 {
		r := c.read()
		if i%2 == 0 {
			wantReply(t, "SET t", r, "OK")
			continue
		}
		b, _ := r.([]byte)
		tok, err := env.ParseToken(string(b))
		if err != nil {
			t.Fatalf("LOGSHIP.TOKEN in a pipeline: %q: %v", b, err)
		}
		toks = append(toks, tok)
	}
	if !toks[0].LSN.Less(toks[1].LSN) {
		t.Fatalf("tokens %s then %s: each must name the write before it", toks[0], toks[1])
	}
	if toks[1].LSN != lastApplied(t, n) {
		t.Fatalf("the second token %s is not the last write (%s applied)", toks[1], lastApplied(t, n))
	}
}

// lastApplied is the newest record n's readers see.
func lastApplied(t *testing.T, n *node) (at lsn.LSN) {
	t.Helper()
	if err := n.site.View(func(rt *env.ReadTx) error { at = rt.AppliedLSN(); return nil }); err != nil {
		t.Fatal(err)
	}
	return at
}

// TestRESPMSetIsOneTransaction: MSET writes every pair in one record.
func TestRESPMSetIsOneTransaction(t *testing.T) {
	n, rs := startRESPSingle(t, nil)
	c := dialRESP(t, rs.addr)
	before := n.env.Stats().Commits
	wantReply(t, "MSET", c.do("MSET", "x", "1", "y", "2", "z", "3"), "OK")
	if got := n.env.Stats().Commits - before; got != 1 {
		t.Fatalf("MSET of three keys made %d commits, want 1", got)
	}
	tok, _ := env.ParseToken(string(c.do("LOGSHIP.TOKEN").([]byte)))
	var applied []string
	err := n.site.View(func(rt *env.ReadTx) error {
		applied = append(applied, rt.AppliedLSN().String())
		return nil
	})
	if err != nil || applied[0] != tok.LSN.String() {
		t.Fatalf("applied %v, MSET's token %s: %v", applied, tok, err)
	}
	wantReply(t, "MGET", c.do("MGET", "x", "y", "z"), []any{[]byte("1"), []byte("2"), []byte("3")})
	// A DEL of several keys is one transaction too.
	before = n.env.Stats().Commits
	wantReply(t, "DEL", c.do("DEL", "x", "y", "z"), int64(3))
	if got := n.env.Stats().Commits - before; got != 1 {
		t.Fatalf("DEL of three keys made %d commits, want 1", got)
	}
}

// TestRESPNotPermanent: a write the ack policy cannot make permanent
// (ack all, the only other site never answers) is answered
// -NOTPERMANENT with its token, though it is committed on the master.
func TestRESPNotPermanent(t *testing.T) {
	n, rs := startRESPSingle(t, func(c *Config) {
		c.Peers = Peers{2: deadAddr(t)}
		c.Ack = "all"
		c.AckTimeout = 200 * time.Millisecond
	})
	c := dialRESP(t, rs.addr)
	e := wantErrPrefix(t, "SET under ack all with the client gone", c.do("SET", "k", "v"), "NOTPERMANENT")
	tokText, _ := c.do("LOGSHIP.TOKEN").([]byte)
	if len(tokText) == 0 || !strings.Contains(e, "token "+string(tokText)) || !strings.Contains(e, "ack policy all") {
		t.Fatalf("NOTPERMANENT error %q: want the ack policy and the token %q", e, tokText)
	}
	wantReply(t, "GET on the master", c.do("GET", "k"), "v")
	if v := scrape(t, n, `logship_commit_duration_seconds_count{op="resp_set",permanent="false"}`); v != 1 {
		t.Fatalf("not-permanent commits observed: %v, want 1", v)
	}
	// Without a --resp-peers entry the master is named by its
	// replication address, and the answer says so.
	msg := rs.errorText(&site.NotMasterError{Master: 2})
	if !strings.HasPrefix(msg, "READONLY ") || !strings.Contains(msg, "site 2") || !strings.Contains(msg, n.cfg.Peers[2]) || !strings.Contains(msg, "--resp-peers") {
		t.Fatalf("READONLY without --resp-peers: %q", msg)
	}
}

// startRESPPair runs a master (site 1) and a client (site 2) in-process,
// each with a RESP listener; the client knows the master's RESP address.
func startRESPPair(t *testing.T) (master, client *node, mrs, crs *respServer) {
	t.Helper()
	l1, l2 := freeAddr(t), freeAddr(t)
	master, _ = startSingle(t, func(c *Config) {
		c.RESP = "127.0.0.1:0"
		c.Listen = l1
		c.Peers = Peers{2: l2}
		c.Ack = "all"
	})
	mrs = startRESPOn(t, master)
	client, _ = startSingle(t, func(c *Config) {
		c.ID = 2
		c.RESP = "127.0.0.1:0"
		c.Listen = l2
		c.Peers = Peers{1: l1}
		c.RESPPeers = Peers{1: mrs.addr}
		c.Master, c.Client = false, true
	})
	crs = startRESPOn(t, client)
	return master, client, mrs, crs
}

func TestRESPClientSite(t *testing.T) {
	_, _, mrs, crs := startRESPPair(t)
	m, c := dialRESP(t, mrs.addr), dialRESP(t, crs.addr)

	// Writes go to the master; a client names it, with its RESP address.
	e := wantErrPrefix(t, "SET on the client", c.do("SET", "k", "v"), "READONLY")
	if !strings.Contains(e, "site 1") || !strings.Contains(e, mrs.addr) {
		t.Fatalf("READONLY %q does not name the master, site 1 at %s", e, mrs.addr)
	}
	wantErrPrefix(t, "DEL on the client", c.do("DEL", "k"), "READONLY")
	wantErrPrefix(t, "INCR on the client", c.do("INCR", "k"), "READONLY")

	// Read your writes on the client: the master's token, waited for.
	wantReply(t, "SET on the master", m.do("SET", "k", "v1"), "OK")
	tok := string(m.do("LOGSHIP.TOKEN").([]byte))
	wantReply(t, "LOGSHIP.WAIT on the client", c.do("LOGSHIP.WAIT", tok, "10000"), "OK")
	wantReply(t, "GET on the client", c.do("GET", "k"), "v1")

	role, ok := c.do("ROLE").([]any)
	host, port := splitAddr(mrs.addr)
	if !ok || len(role) != 5 || string(role[0].([]byte)) != "slave" || string(role[1].([]byte)) != host || role[2] != int64(port) {
		t.Fatalf("ROLE on the client: %#v, want slave of %s", role, mrs.addr)
	}
	info, _ := c.do("INFO", "replication").([]byte)
	for _, want := range []string{"role:slave", fmt.Sprintf("master_port:%d", port), "logship_master_id:1"} {
		if !strings.Contains(string(info), want) {
			t.Fatalf("INFO replication on the client lacks %q:\n%s", want, info)
		}
	}
	info, _ = m.do("INFO", "replication").([]byte)
	if !strings.Contains(string(info), "connected_slaves:1") {
		t.Fatalf("INFO replication on the master:\n%s", info)
	}
}

// TestRESPMalformedInput: bad input closes that connection with an
// error; the server keeps serving the others.
func TestRESPMalformedInput(t *testing.T) {
	_, rs := startRESPSingle(t, func(c *Config) { c.LogFileSize = 1 << 20 })
	good := dialRESP(t, rs.addr)
	wantReply(t, "PING", good.do("PING"), "PONG")
	for _, in := range []string{
		"*abc\r\n",
		"*2\r\n$3\r\nGET\r\n:1\r\n",
		"*1\r\n$-5\r\n",
		"*1\r\n$3\r\nGETX\r\n",
		"\"unbalanced\r\n",
	} {
		bad := dialRESP(t, rs.addr)
		bad.c.Write([]byte(in))
		if _, ok := bad.read().(respErr); !ok {
			t.Fatalf("input %q: want an error reply", in)
		}
		if !bad.closedByServer() {
			t.Fatalf("input %q: the connection stays open", in)
		}
		wantReply(t, "PING on another connection", good.do("PING"), "PONG")
	}
	// A command announcing more than a log file can hold is cut off once
	// it has sent that much, not buffered.
	big := dialRESP(t, rs.addr)
	go func() {
		big.c.Write([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000000\r\n"))
		chunk := make([]byte, 64<<10)
		for range 100 { // 6.4 MB at most: well past the bound of 2 MiB
			if _, err := big.c.Write(chunk); err != nil {
				return
			}
		}
	}()
	wantErrPrefix(t, "oversized command", big.read(), "ERR Protocol error")
	if !big.closedByServer() {
		t.Fatal("oversized command: the connection stays open")
	}
	wantReply(t, "PING after an oversized command", good.do("PING"), "PONG")
}

func TestRESPConnectionLimits(t *testing.T) {
	n, rs := startRESPSingle(t, func(c *Config) {
		c.RESPMaxConns = 2
		c.RESPIdleTimeout = 300 * time.Millisecond
	})
	a, b := dialRESP(t, rs.addr), dialRESP(t, rs.addr)
	wantReply(t, "PING a", a.do("PING"), "PONG")
	wantReply(t, "PING b", b.do("PING"), "PONG")
	third := dialRESP(t, rs.addr)
	wantErrPrefix(t, "third connection", third.read(), "ERR max number of clients reached")
	if !third.closedByServer() {
		t.Fatal("the connection over the cap stays open")
	}
	if v := scrape(t, n, "logship_resp_connections_refused_total{}"); v != 1 {
		t.Fatalf("refused connections: %v, want 1", v)
	}
	// Idle connections are closed, which makes room again.
	if !a.closedByServer() || !b.closedByServer() {
		t.Fatal("idle connections stay open past --resp-idle-timeout")
	}
	testwait.Poll(t, 5*time.Second, 50*time.Millisecond, "room for a connection", func() bool { return rs.conns.Load() == 0 })
	wantReply(t, "PING after the idle ones closed", dialRESP(t, rs.addr).do("PING"), "PONG")
}

// TestRESPProcess: repnode --resp serves RESP, and a SIGTERM with a
// connection open still shuts down cleanly.
func TestRESPProcess(t *testing.T) {
	bin := buildBinary(t)
	respAddr := freeAddr(t)
	p := startProc(t, bin, freeAddr(t), "--dir", t.TempDir(), "--id", "1", "--listen", freeAddr(t), "--master", "--resp", respAddr)
	c := dialRESP(t, respAddr)
	wantReply(t, "SET", c.do("SET", "k", "v"), "OK")
	code, body, _ := do(t, "GET", "http://"+p.http+"/v1/kv/redis/k", "")
	if code != 200 || string(body) != "v" {
		t.Fatalf("HTTP GET of the RESP key: %d %q", code, body)
	}
	if err := p.stop(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.log())
	}
	if !c.closedByServer() {
		t.Fatal("the RESP connection stays open after the shutdown")
	}
}

// TestRESPLeaseReadsProcess: with --leases a master's RESP GET is a
// lease read, like HTTP's GET: once the master is cut off from every
// other site it answers an error, not a possibly stale value.
func TestRESPLeaseReadsProcess(t *testing.T) {
	bin := buildBinary(t)
	g := newGroup(t, 3)
	resp := map[int]string{}
	procs := map[int]*proc{}
	for id := 1; id <= 3; id++ {
		resp[id] = freeAddr(t)
		procs[id] = startProc(t, bin, g.http[id], append(g.args(id, t.TempDir()), "--leases", "--resp", resp[id])...)
	}
	m := electedMaster(t, procs)
	c := dialRESP(t, resp[m])
	testwait.Poll(t, 10*time.Second, 50*time.Millisecond, "a RESP write and lease read on the master succeed", func() bool {
		return c.do("SET", "l", "v") == "OK" && fmt.Sprintf("%s", c.do("GET", "l")) == "v"
	})
	for id, p := range procs {
		if id == m {
			continue
		}
		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		p.done <- <-p.done
	}
	var last any
	testwait.Poll(t, 5*time.Second, 50*time.Millisecond, "RESP reads on the cut-off master fail", func() bool {
		last = c.do("GET", "l")
		_, isErr := last.(respErr)
		return isErr
	})
	if e := string(last.(respErr)); !strings.HasPrefix(e, "TRYAGAIN") && !strings.HasPrefix(e, "READONLY") {
		t.Fatalf("GET on a master without its lease: %q, want TRYAGAIN or READONLY", e)
	}
	wantErrPrefix(t, "SET on a master without its lease", c.do("SET", "l", "w"), "READONLY")
}

// TestRESPPanicClosesOnlyItsConnection makes one command's handler panic
// and another's transaction panic: each client gets an error and a
// closed connection, the store keeps what was committed and nothing of
// the panicked transaction, and the site serves everyone else.
func TestRESPPanicClosesOnlyItsConnection(t *testing.T) {
	respCmds["logship.testpanic"] = &respCmd{arity: 1, run: func(*respConn, redcon.Conn, [][]byte) (respReply, string) {
		panic("handler bug")
	}}
	respCmds["logship.testpanictx"] = &respCmd{arity: 1, write: func(rc *respConn, _ [][]byte) (writeOp, string) {
		return writeOp{op: "set", fn: func(tx *env.Tx) error {
			if err := tx.Put(rc.bucket(), []byte("half"), []byte("written")); err != nil {
				return err
			}
			panic("transaction bug")
		}}, ""
	}}
	t.Cleanup(func() {
		delete(respCmds, "logship.testpanic")
		delete(respCmds, "logship.testpanictx")
	})
	n, rs := startRESPSingle(t, nil)
	good := dialRESP(t, rs.addr)
	wantReply(t, "SET", good.do("SET", "k", "v"), "OK")
	for _, cmd := range []string{"LOGSHIP.TESTPANIC", "LOGSHIP.TESTPANICTX"} {
		bad := dialRESP(t, rs.addr)
		wantErrPrefix(t, cmd, bad.do(cmd), "ERR internal error")
		if !bad.closedByServer() {
			t.Fatalf("%s: the connection stays open", cmd)
		}
		wantReply(t, "GET on another connection after "+cmd, good.do("GET", "k"), "v")
		wantReply(t, "SET on another connection after "+cmd, good.do("SET", "k2", "v2"), "OK")
	}
	wantReply(t, "GET of the panicked transaction's key", good.do("GET", "half"), nil)
	if got := scrape(t, n, `logship_resp_errors_total{command="panic",kind="ERR"}`); got != 2 {
		t.Fatalf("panics counted: %v, want 2", got)
	}
}

// TestRESPMGetAnswerBounded: an MGET whose values add up to more than
// respMaxReplyBytes is refused with an error, not built in memory; the
// connection goes on.
func TestRESPMGetAnswerBounded(t *testing.T) {
	old := respMaxReplyBytes
	respMaxReplyBytes = 10 << 10
	t.Cleanup(func() { respMaxReplyBytes = old })
	_, rs := startRESPSingle(t, nil)
	c := dialRESP(t, rs.addr)
	v := strings.Repeat("x", 4<<10)
	wantReply(t, "MSET", c.do("MSET", "a", v, "b", v, "c", v), "OK")
	if got, ok := c.do("MGET", "a", "b").([]any); !ok || len(got) != 2 {
		t.Fatalf("MGET of 8 KiB: %#v", got)
	}
	wantErrPrefix(t, "MGET of 12 KiB", c.do("MGET", "a", "b", "c"), "ERR MGET answer of more than")
	wantReply(t, "PING after the refused MGET", c.do("PING"), "PONG")
}
