package main

// The RESP commands (resp.go serves them). Writes commit on the master
// and answer once permanent under the ack policy; reads are local, like
// HTTP's GET. docs/operations.md ("RESP listener") lists them.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/redcon"

	"logship/env"
	"logship/env/site"
)

// respVersion is the Redis version INFO reports: the command set and
// replies of Redis 2.x/7.x strings that clients check for.
const respVersion = "7.0.0"

// writeOp is a write command ready to commit.
type writeOp struct {
	op     string              // the commit's op label in logship_commit_duration_seconds
	fn     func(*env.Tx) error // the transaction
	answer func() respReply    // the answer once permanent; reads what fn left
}

// respCmd is one command.
type respCmd struct {
	// arity as Redis's COMMAND gives it: the number of arguments with
	// the name, or at least -arity when negative.
	arity             int
	flags             []string
	first, last, step int // key positions, for COMMAND
	write             func(rc *respConn, args [][]byte) (writeOp, string)
	run               func(rc *respConn, c redcon.Conn, args [][]byte) (respReply, string)
	quit              bool // close the connection after the answer
	open              bool // runs before AUTH (AUTH, HELLO, QUIT)
}

var respCmds map[string]*respCmd

func init() {
	// Set here, not in the declaration: COMMAND lists respCmds.
	respCmds = map[string]*respCmd{
		"ping":          {arity: -1, flags: []string{"fast"}, run: cmdPing},
		"echo":          {arity: 2, flags: []string{"fast"}, run: cmdEcho},
		"quit":          {arity: -1, flags: []string{"fast"}, run: cmdOK, quit: true, open: true},
		"auth":          {arity: -2, flags: []string{"fast", "no-auth"}, run: cmdAuth, open: true},
		"select":        {arity: 2, flags: []string{"fast"}, run: cmdSelect},
		"get":           {arity: 2, flags: []string{"readonly", "fast"}, first: 1, last: 1, step: 1, run: cmdGet},
		"mget":          {arity: -2, flags: []string{"readonly", "fast"}, first: 1, last: -1, step: 1, run: cmdMGet},
		"exists":        {arity: -2, flags: []string{"readonly", "fast"}, first: 1, last: -1, step: 1, run: cmdExists},
		"set":           {arity: -3, flags: []string{"write", "denyoom"}, first: 1, last: 1, step: 1, write: cmdSet},
		"mset":          {arity: -3, flags: []string{"write", "denyoom"}, first: 1, last: -1, step: 2, write: cmdMSet},
		"del":           {arity: -2, flags: []string{"write"}, first: 1, last: -1, step: 1, write: cmdDel},
		"incr":          {arity: 2, flags: []string{"write", "denyoom", "fast"}, first: 1, last: 1, step: 1, write: incrBy(1, false)},
		"decr":          {arity: 2, flags: []string{"write", "denyoom", "fast"}, first: 1, last: 1, step: 1, write: incrBy(-1, false)},
		"incrby":        {arity: 3, flags: []string{"write", "denyoom", "fast"}, first: 1, last: 1, step: 1, write: incrBy(1, true)},
		"decrby":        {arity: 3, flags: []string{"write", "denyoom", "fast"}, first: 1, last: 1, step: 1, write: incrBy(-1, true)},
		"role":          {arity: 1, flags: []string{"fast"}, run: cmdRole},
		"info":          {arity: -1, run: cmdInfo},
		"command":       {arity: -1, run: cmdCommand},
		"config":        {arity: -2, run: cmdConfig},
		"client":        {arity: -2, run: cmdClient},
		"hello":         {arity: -1, flags: []string{"fast"}, run: cmdHello, open: true},
		"logship.token": {arity: 1, flags: []string{"fast"}, run: cmdToken},
		"logship.wait":  {arity: -2, run: cmdWait},
	}
}

var unknownCmd = &respCmd{run: func(_ *respConn, _ redcon.Conn, args [][]byte) (respReply, string) {
	var b strings.Builder
	for i, a := range args[1:] {
		if i == 3 {
			break
		}
		fmt.Fprintf(&b, "'%.64s' ", a)
	}
	return fail(fmt.Sprintf("ERR unknown command '%.64s', with args beginning with: %s", args[0], b.String()))
}}

// lookupRESP finds a command by name, any case; name is its metrics
// label ("unknown" for one we do not serve, so the label set stays
// small).
func lookupRESP(arg []byte) (*respCmd, string) {
	name := strings.ToLower(string(arg))
	if c, ok := respCmds[name]; ok {
		return c, name
	}
	return unknownCmd, "unknown"
}

// checkArity answers Redis's error for a wrong number of arguments, or "".
func (c *respCmd) checkArity(name string, n int) string {
	if c == unknownCmd || c.arity > 0 && n == c.arity || c.arity < 0 && n >= -c.arity {
		return ""
	}
	return fmt.Sprintf("ERR wrong number of arguments for '%s' command", name)
}

func ok(r respReply) (respReply, string) { return r, "" }

// fail answers msg, a RESP error whose first word is its kind.
func fail(msg string) (respReply, string) {
	kind, _, _ := strings.Cut(msg, " ")
	return func(c redcon.Conn) { c.WriteError(msg) }, kind
}

// failErr answers an env or site error.
func (rc *respConn) failErr(err error) (respReply, string) { return fail(rc.s.errorText(err)) }

var replyOK respReply = func(c redcon.Conn) { c.WriteString("OK") }

func cmdOK(*respConn, redcon.Conn, [][]byte) (respReply, string) { return ok(replyOK) }

func cmdPing(_ *respConn, _ redcon.Conn, args [][]byte) (respReply, string) {
	switch len(args) {
	case 1:
		return ok(func(c redcon.Conn) { c.WriteString("PONG") })
	case 2:
		msg := args[1]
		return ok(func(c redcon.Conn) { c.WriteBulk(msg) })
	}
	return fail("ERR wrong number of arguments for 'ping' command")
}

func cmdEcho(_ *respConn, _ redcon.Conn, args [][]byte) (respReply, string) {
	msg := args[1]
	return ok(func(c redcon.Conn) { c.WriteBulk(msg) })
}

func cmdSelect(_ *respConn, _ redcon.Conn, args [][]byte) (respReply, string) {
	if string(args[1]) != "0" {
		return fail("ERR DB index is out of range: logship serves database 0 only")
	}
	return ok(replyOK)
}

func (rc *respConn) bucket() string { return rc.s.n.cfg.RESPBucket }

func cmdGet(rc *respConn, _ redcon.Conn, args [][]byte) (respReply, string) {
	var v []byte
	err := rc.s.n.view(func(rt *env.ReadTx) error {
		var err error
		v, err = rt.Get(rc.bucket(), args[1])
		return err
	})
	if err != nil {
		return rc.failErr(err)
	}
	return ok(bulkOrNull(v))
}

func bulkOrNull(v []byte) respReply {
	if v == nil {
		return func(c redcon.Conn) { c.WriteNull() }
	}
	return func(c redcon.Conn) { c.WriteBulk(v) }
}

func cmdMGet(rc *respConn, _ redcon.Conn, args [][]byte) (respReply, string) {
	vs := make([][]byte, len(args)-1)
	size, tooBig := 0, false
	err := rc.s.n.view(func(rt *env.ReadTx) error {
		for i, k := range args[1:] {
			v, err := rt.Get(rc.bucket(), k)
			if err != nil {
				return err
			}
			if size += len(v); size > respMaxReplyBytes {
				tooBig = true
				return nil
			}
			vs[i] = v
		}
		return nil
	})
	if err != nil {
		return rc.failErr(err)
	}
	if tooBig {
		return fail(fmt.Sprintf("ERR MGET answer of more than %d bytes of values refused; ask for fewer keys at a time", respMaxReplyBytes))
	}
	return ok(func(c redcon.Conn) {
		c.WriteArray(len(vs))
		for _, v := range vs {
			bulkOrNull(v)(c)
		}
	})
}

func cmdExists(rc *respConn, _ redcon.Conn, args [][]byte) (respReply, string) {
	n := 0
	err := rc.s.n.view(func(rt *env.ReadTx) error {
		for _, k := range args[1:] {
			v, err := rt.Get(rc.bucket(), k)
			if err != nil {
				return err
			}
			if v != nil {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return rc.failErr(err)
	}
	return ok(func(c redcon.Conn) { c.WriteInt(n) })
}

func cmdSet(rc *respConn, args [][]byte) (writeOp, string) {
	if len(args) > 3 {
		return writeOp{}, fmt.Sprintf("ERR SET option '%.32s' is not supported: logship serves plain SET key value", args[3])
	}
	b, k, v := rc.bucket(), args[1], args[2]
	return writeOp{op: "resp_set", fn: func(tx *env.Tx) error { return tx.Put(b, k, v) },
		answer: func() respReply { return replyOK }}, ""
}

// cmdMSet writes every pair in one transaction: one record, one LSN.
func cmdMSet(rc *respConn, args [][]byte) (writeOp, string) {
	if len(args)%2 != 1 {
		return writeOp{}, "ERR wrong number of arguments for 'mset' command"
	}
	b, kv := rc.bucket(), args[1:]
	return writeOp{op: "resp_mset", fn: func(tx *env.Tx) error {
		for i := 0; i < len(kv); i += 2 {
			if err := tx.Put(b, kv[i], kv[i+1]); err != nil {
				return err
			}
		}
		return nil
	}, answer: func() respReply { return replyOK }}, ""
}

// cmdDel deletes the keys that exist, in one transaction, and answers
// how many did (a key named twice counts once, as in Redis).
func cmdDel(rc *respConn, args [][]byte) (writeOp, string) {
	b, keys := rc.bucket(), args[1:]
	var n int
	return writeOp{op: "resp_del", fn: func(tx *env.Tx) error {
		n = 0
		for _, k := range keys {
			v, err := tx.Get(b, k)
			if err != nil {
				return err
			}
			if v == nil {
				continue
			}
			if err := tx.Delete(b, k); err != nil {
				return err
			}
			n++
		}
		return nil
	}, answer: func() respReply { return func(c redcon.Conn) { c.WriteInt(n) } }}, ""
}

// Redis's words for a value or increment that is not a 64-bit integer.
const (
	errNotInteger = respError("ERR value is not an integer or out of range")
	errOverflow   = respError("ERR increment or decrement would overflow")
)

// incrBy is INCR/DECR (by sign) or, with arg, INCRBY/DECRBY: a
// read-modify-write in one transaction on the master.
func incrBy(sign int64, arg bool) func(rc *respConn, args [][]byte) (writeOp, string) {
	return func(rc *respConn, args [][]byte) (writeOp, string) {
		by := sign
		if arg {
			d, err := parseRESPInt(args[2])
			if err != nil || sign < 0 && d == math.MinInt64 {
				return writeOp{}, string(errNotInteger)
			}
			by = sign * d
		}
		b, k := rc.bucket(), args[1]
		var next int64
		return writeOp{op: "resp_incr", fn: func(tx *env.Tx) error {
			v, err := tx.Get(b, k)
			if err != nil {
				return err
			}
			var cur int64
			if v != nil {
				if cur, err = parseRESPInt(v); err != nil {
					return errNotInteger
				}
			}
			if by > 0 && cur > math.MaxInt64-by || by < 0 && cur < math.MinInt64-by {
				return errOverflow
			}
			next = cur + by
			return tx.Put(b, k, strconv.AppendInt(nil, next, 10))
		}, answer: func() respReply { return func(c redcon.Conn) { c.WriteInt64(next) } }}, ""
	}
}

// parseRESPInt reads a decimal int64 as Redis does (string2ll): an
// optional minus, digits, no leading zeros or plus sign, no spaces, at
// most 20 bytes.
func parseRESPInt(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > 20 {
		return 0, errNotInteger
	}
	digits := b
	if b[0] == '-' {
		digits = b[1:]
	}
	if len(digits) == 0 || digits[0] == '0' && len(b) > 1 {
		return 0, errNotInteger
	}
	for _, d := range digits {
		if d < '0' || d > '9' {
			return 0, errNotInteger
		}
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, errNotInteger
	}
	return v, nil
}

// cmdToken answers the token of this connection's last write (a bulk
// string for LOGSHIP.WAIT on any site), or nil before its first.
func cmdToken(rc *respConn, _ redcon.Conn, _ [][]byte) (respReply, string) {
	if !rc.has {
		return ok(func(c redcon.Conn) { c.WriteNull() })
	}
	t := rc.tok.String()
	return ok(func(c redcon.Conn) { c.WriteBulkString(t) })
}

// cmdWait is LOGSHIP.WAIT token [timeout-ms]: +OK once the write the
// token names is applied here (then reads on this site see it), like
// HTTP's GET ?token=. It waits at most timeout-ms, or --read-timeout.
func cmdWait(rc *respConn, _ redcon.Conn, args [][]byte) (respReply, string) {
	if len(args) > 3 {
		return fail("ERR wrong number of arguments for 'logship.wait' command")
	}
	tok, err := env.ParseToken(string(args[1]))
	if err != nil {
		return fail(fmt.Sprintf("ERR token %q: want a write's token (LOGSHIP.TOKEN: GEN:FILE/OFFSET:CHECKSUM) or FILE/OFFSET", args[1]))
	}
	n := rc.s.n
	timeout := n.cfg.ReadTimeout
	if len(args) == 3 {
		ms, err := parseRESPInt(args[2])
		if err != nil || ms <= 0 || ms > math.MaxInt64/int64(time.Millisecond) {
			return fail("ERR timeout is not a positive integer (milliseconds)")
		}
		timeout = time.Duration(ms) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(rc.s.ctx, timeout)
	defer cancel()
	if err := n.site.WaitApplied(ctx, tok); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fail(fmt.Sprintf("TIMEOUT token %s not applied on site %d within %v", tok, n.cfg.ID, timeout))
		}
		return rc.failErr(err)
	}
	return ok(replyOK)
}

// cmdRole answers Redis's ROLE: for a master ["master", offset,
// [[host, port, offset]...]] with its peers, for a client ["slave",
// master host, master port, state, offset]. Offsets are LSNs as one
// number (file*2^32+offset, as in the metrics); hosts and ports are RESP
// addresses where this site knows them (--resp-peers), else "" and 0.
func cmdRole(rc *respConn, _ redcon.Conn, _ [][]byte) (respReply, string) {
	n := rc.s.n
	st := n.site.Status()
	switch st.Role.String() {
	case "master":
		type peer struct {
			host string
			port int
			at   int64
		}
		var peers []peer
		for _, s := range st.Sites {
			h, p := splitAddr(n.respAddr(uint64(s.ID)))
			peers = append(peers, peer{h, p, int64(lsnValue(s.Acked))})
		}
		off := int64(lsnValue(st.LSN))
		return ok(func(c redcon.Conn) {
			c.WriteArray(3)
			c.WriteBulkString("master")
			c.WriteInt64(off)
			c.WriteArray(len(peers))
			for _, p := range peers {
				c.WriteArray(3)
				c.WriteBulkString(p.host)
				c.WriteBulkString(strconv.Itoa(p.port))
				c.WriteBulkString(strconv.FormatInt(p.at, 10))
			}
		})
	case "client":
		h, p := splitAddr(n.respAddr(uint64(st.Master)))
		state := "connected"
		if st.Master == 0 {
			state = "connect"
		} else if st.Lockout {
			state = "sync"
		}
		off := int64(lsnValue(st.AppliedLSN))
		return ok(func(c redcon.Conn) {
			c.WriteArray(5)
			c.WriteBulkString("slave")
			c.WriteBulkString(h)
			c.WriteInt(p)
			c.WriteBulkString(state)
			c.WriteInt64(off)
		})
	}
	role := st.Role.String()
	return ok(func(c redcon.Conn) {
		c.WriteArray(1)
		c.WriteBulkString(role)
	})
}

// splitAddr is host and port of addr, or "" and 0.
func splitAddr(addr string) (string, int) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0
	}
	port, _ := strconv.Atoi(p)
	return h, port
}

// cmdInfo answers INFO [section...]: server, clients, replication (the
// default and "all"/"everything" give all three).
func cmdInfo(rc *respConn, _ redcon.Conn, args [][]byte) (respReply, string) {
	want := map[string]bool{}
	for _, a := range args[1:] {
		want[strings.ToLower(string(a))] = true
	}
	all := len(want) == 0 || want["all"] || want["everything"] || want["default"]
	var b strings.Builder
	n := rc.s.n
	if all || want["server"] {
		fmt.Fprintf(&b, "# Server\r\nredis_version:%s\r\nlogship_server:repnode\r\nlogship_site_id:%d\r\nredis_mode:standalone\r\nos:%s %s\r\narch_bits:64\r\ntcp_port:%d\r\n\r\n",
			respVersion, n.cfg.ID, runtime.GOOS, runtime.GOARCH, portOf(rc.s.addr))
	}
	if all || want["clients"] {
		fmt.Fprintf(&b, "# Clients\r\nconnected_clients:%d\r\nmaxclients:%d\r\n\r\n", rc.s.conns.Load(), n.cfg.RESPMaxConns)
	}
	if all || want["replication"] {
		b.WriteString(rc.replicationInfo())
	}
	text := b.String()
	return ok(func(c redcon.Conn) { c.WriteBulkString(text) })
}

func portOf(addr string) int {
	_, p := splitAddr(addr)
	return p
}

// replicationInfo is INFO's replication section: Redis's fields where
// they have a meaning here, then logship's (LSNs as FILE/OFFSET).
func (rc *respConn) replicationInfo() string {
	n := rc.s.n
	st := n.site.Status()
	var b strings.Builder
	b.WriteString("# Replication\r\n")
	role := st.Role.String()
	switch role {
	case "master":
		b.WriteString("role:master\r\n")
		ids := make([]int, 0, len(st.Sites))
		bySite := map[int]site.SiteStatus{}
		for _, s := range st.Sites {
			ids = append(ids, int(s.ID))
			bySite[int(s.ID)] = s
		}
		sort.Ints(ids)
		connected := 0
		for _, id := range ids {
			if bySite[id].Connected {
				connected++
			}
		}
		fmt.Fprintf(&b, "connected_slaves:%d\r\n", connected)
		for i, id := range ids {
			s := bySite[id]
			h, p := splitAddr(n.respAddr(uint64(id)))
			state := "online"
			if !s.Connected {
				state = "offline"
			}
			fmt.Fprintf(&b, "slave%d:ip=%s,port=%d,state=%s,offset=%d,lag=%d,site_id=%d,lsn=%s\r\n",
				i, h, p, state, int64(lsnValue(s.Acked)), int64(s.LagTime.Seconds()), id, s.Acked)
		}
	case "client":
		b.WriteString("role:slave\r\n")
		h, p := splitAddr(n.respAddr(uint64(st.Master)))
		link := "up"
		if st.Master == 0 || st.Lockout {
			link = "down"
		}
		fmt.Fprintf(&b, "master_host:%s\r\nmaster_port:%d\r\nmaster_link_status:%s\r\nmaster_sync_in_progress:%d\r\nslave_repl_offset:%d\r\nslave_read_only:1\r\n",
			h, p, link, boolInt(st.Lockout), int64(lsnValue(st.AppliedLSN)))
	default:
		fmt.Fprintf(&b, "role:%s\r\n", role)
	}
	fmt.Fprintf(&b, "master_repl_offset:%d\r\n", int64(lsnValue(st.LSN)))
	fmt.Fprintf(&b, "logship_site_id:%d\r\nlogship_role:%s\r\nlogship_master_id:%d\r\n", n.cfg.ID, role, st.Master)
	if st.Master != 0 {
		fmt.Fprintf(&b, "logship_master_addr:%s\r\nlogship_master_resp:%s\r\n", n.masterAddr(uint64(st.Master)), n.respAddr(uint64(st.Master)))
	}
	fmt.Fprintf(&b, "logship_gen:%d\r\nlogship_lsn:%s\r\nlogship_applied_lsn:%s\r\nlogship_sync_state:%s\r\nlogship_ack:%s\r\nlogship_bucket:%s\r\n",
		st.Gen, st.LSN, st.AppliedLSN, syncStateName(st), n.cfg.Ack, n.cfg.RESPBucket)
	return b.String()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// cmdCommand answers COMMAND (every command's name, arity, flags and key
// positions), COMMAND COUNT, COMMAND INFO name..., and COMMAND DOCS
// (empty: redis-cli asks for it at start for its hints).
func cmdCommand(_ *respConn, _ redcon.Conn, args [][]byte) (respReply, string) {
	names := make([]string, 0, len(respCmds))
	if len(args) == 1 {
		for name := range respCmds {
			names = append(names, name)
		}
		sort.Strings(names)
		return ok(commandInfo(names))
	}
	switch strings.ToLower(string(args[1])) {
	case "count":
		n := len(respCmds)
		return ok(func(c redcon.Conn) { c.WriteInt(n) })
	case "info":
		for _, a := range args[2:] {
			names = append(names, strings.ToLower(string(a)))
		}
		return ok(commandInfo(names))
	case "docs":
		return ok(func(c redcon.Conn) { c.WriteArray(0) })
	case "list":
		for name := range respCmds {
			names = append(names, name)
		}
		sort.Strings(names)
		return ok(func(c redcon.Conn) {
			c.WriteArray(len(names))
			for _, n := range names {
				c.WriteBulkString(n)
			}
		})
	}
	return fail(fmt.Sprintf("ERR unknown subcommand '%.32s' of COMMAND: try COUNT, INFO, DOCS or LIST", args[1]))
}

func commandInfo(names []string) respReply {
	return func(c redcon.Conn) {
		c.WriteArray(len(names))
		for _, name := range names {
			rc, ok := respCmds[name]
			if !ok {
				c.WriteNull()
				continue
			}
			c.WriteArray(6)
			c.WriteBulkString(name)
			c.WriteInt(rc.arity)
			c.WriteArray(len(rc.flags))
			for _, f := range rc.flags {
				c.WriteString(f)
			}
			c.WriteInt(rc.first)
			c.WriteInt(rc.last)
			c.WriteInt(rc.step)
		}
	}
}

// respConfig is what CONFIG GET answers: redis-benchmark asks for save
// and appendonly at start. Durability here is the log's, always on.
var respConfig = map[string]string{"save": "", "appendonly": "no", "databases": "1"}

func cmdConfig(_ *respConn, _ redcon.Conn, args [][]byte) (respReply, string) {
	if strings.ToLower(string(args[1])) != "get" {
		return fail(fmt.Sprintf("ERR CONFIG %.32s is not supported: logship is configured by repnode's flags", args[1]))
	}
	var pairs []string
	for _, a := range args[2:] {
		k := strings.ToLower(string(a))
		if v, ok := respConfig[k]; ok {
			pairs = append(pairs, k, v)
		}
	}
	return ok(func(c redcon.Conn) {
		c.WriteArray(len(pairs))
		for _, p := range pairs {
			c.WriteBulkString(p)
		}
	})
}

// cmdClient answers what client libraries send on connecting (CLIENT
// SETNAME, SETINFO) harmlessly, and CLIENT ID and GETNAME.
func cmdClient(rc *respConn, _ redcon.Conn, args [][]byte) (respReply, string) {
	switch strings.ToLower(string(args[1])) {
	case "setname", "setinfo":
		return ok(replyOK)
	case "getname":
		return ok(func(c redcon.Conn) { c.WriteNull() })
	case "id":
		id := rc.id
		return ok(func(c redcon.Conn) { c.WriteInt64(id) })
	}
	return fail(fmt.Sprintf("ERR CLIENT %.32s is not supported", args[1]))
}

// cmdHello refuses RESP3: clients then speak RESP2, which is all this
// listener speaks.
func cmdHello(*respConn, redcon.Conn, [][]byte) (respReply, string) {
	return fail("NOPROTO this server speaks RESP2 only")
}
