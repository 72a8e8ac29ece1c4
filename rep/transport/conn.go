package transport

import (
	"bufio"
	"fmt"
	"net"
	"sync"
	"time"
)

const (
	// readBufSize is the reader's buffer: large enough that a burst of
	// small frames costs one read system call.
	readBufSize = 64 << 10
	// coalesceBytes is how much the writer gathers from its queue into one
	// write. Larger batches save system calls but delay the first frame of
	// the batch, so the writer never waits to fill one: it takes only what
	// is already queued.
	coalesceBytes = 256 << 10
	// writeChunk is the most the writer hands the socket in one call, and
	// so the most that must drain within one HeartbeatTimeout.
	writeChunk = coalesceBytes
)

// conn is one established connection to a peer: a writer goroutine
// draining queue, and a reader (the goroutine that made the connection)
// delivering frames to the receive channel.
type conn struct {
	p     *peer
	raw   net.Conn // the TCP socket (for TCP_NODELAY checks and Close)
	nc    net.Conn // raw, or the TLS connection over it
	queue chan []byte
	done  chan struct{} // closed when the connection is torn down
	once  sync.Once
	// readerDone is closed when the reader has delivered its last
	// message, so that a replacing connection can emit ConnDown after it.
	readerDone chan struct{}
}

func (c *conn) close() {
	c.once.Do(func() {
		close(c.done)
		c.raw.Close()
	})
}

// install makes c the peer's connection and returns the one it replaces;
// ok is false if the peer has been removed. A new connection replaces an
// old one rather than being refused: the only way for a second connection
// from the same (lower-ID) dialer to arrive is that the dialer saw the
// first one die, possibly before this side did.
func (p *peer) install(c *conn) (old *conn, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.removed {
		return nil, false
	}
	old = p.cur
	p.cur = c
	p.lastErr = ""
	return old, true
}

// remove clears the peer's connection if it is still c.
func (p *peer) remove(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur != c {
		return false
	}
	p.cur = nil
	return true
}

// runConn runs an established connection until it fails or the transport
// closes. It emits ConnUp before the first message and ConnDown after the
// last, from this goroutine, so they stay in order on the receive channel.
func (t *TCP) runConn(p *peer, raw, nc net.Conn, pr *progressReader, br *bufio.Reader) {
	pr.timeout = t.cfg.HeartbeatTimeout
	c := &conn{
		p: p, raw: raw, nc: nc,
		queue:      make(chan []byte, t.cfg.SendQueueLen),
		done:       make(chan struct{}),
		readerDone: make(chan struct{}),
	}
	old, ok := p.install(c)
	if !ok {
		return // removed by RemovePeer during the handshake
	}
	p.st.connects.Add(1)
	// Start the writer before emitting events: emit blocks while the
	// consumer is behind, and sending must not depend on receiving.
	t.wg.Add(1)
	go t.writeLoop(c)
	if old != nil {
		old.close()
		p.st.disconnects.Add(1)
		// The old reader may be in the middle of delivering a message:
		// let it finish so ConnDown follows everything it received.
		select {
		case <-old.readerDone:
		case <-t.closing:
		}
		t.emit(Message{From: p.id, Kind: KindConnDown})
	}
	t.emit(Message{From: p.id, Kind: KindConnUp})
	err := t.readLoop(c, br)
	close(c.readerDone)
	c.close()
	if p.remove(c) {
		p.st.disconnects.Add(1)
		select {
		case <-t.closing:
			err = errTransportClosed
		default:
			p.mu.Lock()
			p.lastErr = err.Error()
			p.mu.Unlock()
		}
		t.log.Info("transport: connection down", "peer", p.id, "err", err)
		t.emit(Message{From: p.id, Kind: KindConnDown})
	}
}

// progressReader is the socket under a connection's bufio.Reader. Once
// armed (timeout > 0) it gives every read a deadline, so a connection on
// which no byte arrives for HeartbeatTimeout is dead (the peer sends
// heartbeats whenever it is idle), while a large frame trickling in over a
// slow link survives as long as bytes keep coming. The deadline is
// re-armed only when a quarter of the timeout has passed, to spare a
// timer update per read; the effective timeout is 3/4 to all of it.
type progressReader struct {
	c       net.Conn
	timeout time.Duration
	armed   time.Time
}

func (r *progressReader) Read(p []byte) (int, error) {
	if r.timeout > 0 {
		if now := time.Now(); now.Sub(r.armed) > r.timeout/4 {
			r.armed = now
			r.c.SetReadDeadline(now.Add(r.timeout))
		}
	}
	return r.c.Read(p)
}

// readLoop delivers data frames until the connection fails.
func (t *TCP) readLoop(c *conn, br *bufio.Reader) error {
	for {
		typ, body, err := readFrame(br, t.cfg.MaxFrameSize)
		if err != nil {
			return err
		}
		switch typ {
		case frameHeartbeat:
		case frameData:
			c.p.st.framesRecv.Add(1)
			c.p.st.bytesRecv.Add(uint64(len(body)))
			if !t.emit(Message{From: c.p.id, Body: body}) {
				return errTransportClosed
			}
		default:
			return fmt.Errorf("%w: %d after handshake", ErrFrameType, typ)
		}
	}
}

// writeLoop drains the connection's queue, coalescing whatever is already
// queued into one write, and sends a heartbeat when the connection has
// been idle for a heartbeat interval. A write error or a write blocked for
// HeartbeatTimeout kills the connection.
func (t *TCP) writeLoop(c *conn) {
	defer t.wg.Done()
	defer func() {
		// Whatever is still queued will never be sent.
		c.p.st.drops.Add(uint64(len(c.queue)))
	}()
	defer c.close()
	hb := time.NewTicker(t.cfg.HeartbeatInterval)
	defer hb.Stop()
	buf := make([]byte, 0, 64<<10)
	wrote := false // since the last heartbeat tick
	// Writes go out in chunks, each with its own deadline, so that what
	// kills a connection is a write making no progress for
	// HeartbeatTimeout, not a large frame on a slow link.
	write := func(b []byte) bool {
		for len(b) > 0 {
			n := min(len(b), writeChunk)
			c.nc.SetWriteDeadline(time.Now().Add(t.cfg.HeartbeatTimeout))
			if _, err := c.nc.Write(b[:n]); err != nil {
				return false
			}
			b = b[n:]
		}
		return true
	}
	for {
		select {
		case body := <-c.queue:
			buf = appendFrame(buf[:0], frameData, body)
			frames, bytes := uint64(1), uint64(len(body))
		gather:
			for len(buf) < coalesceBytes {
				select {
				case body = <-c.queue:
					buf = appendFrame(buf, frameData, body)
					frames++
					bytes += uint64(len(body))
				default:
					break gather
				}
			}
			if !write(buf) {
				return
			}
			c.p.st.framesSent.Add(frames)
			c.p.st.bytesSent.Add(bytes)
			wrote = true
			if cap(buf) > 4*coalesceBytes {
				// One huge message should not pin a huge buffer forever.
				buf = make([]byte, 0, 64<<10)
			}
		case <-hb.C:
			if !wrote {
				if !write(appendFrame(buf[:0], frameHeartbeat, nil)) {
					return
				}
				c.p.st.heartbeatsOut.Add(1)
			}
			wrote = false
		case <-c.done:
			return
		case <-t.closing:
			return
		}
	}
}
