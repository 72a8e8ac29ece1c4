package transport

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"slices"
	"testing"
	"time"
)

// benchPair connects two loopback sites with queues deep enough that the
// sender is limited by the connection, not by drops.
func benchPair(b *testing.B, tlsCfg *tls.Config) (*TCP, *TCP) {
	sites := group(b, 2, func(c *Config) {
		c.TLS = tlsCfg
		c.SendQueueLen = 1 << 14
		c.RecvQueueLen = 1 << 14
		c.HeartbeatTimeout = 30 * time.Second
	})
	waitConnected(b, sites...)
	return sites[0], sites[1]
}

// BenchmarkThroughput sends one-way over loopback TCP and reports frames/s
// and (through SetBytes) MB/s of bodies delivered to the receiver's Recv
// channel. It uses b.N rather than b.Loop because the time that counts
// ends when the receiver has the last frame, not when the sender queued it.
func BenchmarkThroughput(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"128B", 128}, {"64KiB", 64 << 10}} {
		b.Run(size.name, func(b *testing.B) {
			src, dst := benchPair(b, nil)
			body := make([]byte, size.n)
			// Flow control: the sender may have at most window messages
			// not yet received, less than the send queue holds, so Send
			// never drops and the sender never spins (which would steal
			// the CPU the writer and reader need).
			const batch, window = 1024, 8 * 1024
			credits := make(chan struct{}, window/batch)
			for range window / batch {
				credits <- struct{}{}
			}
			done := make(chan struct{})
			go func() {
				got := 0
				for m := range dst.Recv() {
					if m.Kind != KindMessage {
						continue
					}
					if got++; got == b.N {
						close(done)
					} else if got%batch == 0 {
						credits <- struct{}{}
					}
				}
			}()
			b.SetBytes(int64(size.n))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				if i%batch == 0 {
					<-credits
				}
				if err := src.Send(2, body); err != nil {
					b.Fatal(err)
				}
			}
			<-done
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "frames/s")
			src.Close()
			dst.Close()
		})
	}
}

// BenchmarkPingPong measures the round trip of a 128-byte message to a
// peer that echoes it, the shape of a log record and its ack, over plain
// TCP and over TLS.
func BenchmarkPingPong(b *testing.B) {
	b.Run("tcp", func(b *testing.B) { benchPingPong(b, nil) })
	b.Run("tls", func(b *testing.B) {
		ca := newCA(b, "bench CA")
		benchPingPong(b, ca.site(b, "site", ca.Pool))
	})
}

func benchPingPong(b *testing.B, tlsCfg *tls.Config) {
	a, echo := benchPair(b, tlsCfg)
	go func() {
		for m := range echo.Recv() {
			if m.Kind == KindMessage {
				echo.Send(m.From, m.Body)
			}
		}
	}()
	body := make([]byte, 128)
	rtts := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		if err := a.Send(2, body); err != nil {
			b.Fatal(err)
		}
		for m := range a.Recv() {
			if m.Kind == KindMessage {
				break
			}
		}
		rtts = append(rtts, time.Since(start))
	}
	slices.Sort(rtts)
	b.ReportMetric(float64(rtts[len(rtts)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(rtts[len(rtts)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// BenchmarkLoopbackRaw is the anchor for BenchmarkThroughput: the same
// bytes written to a plain loopback TCP socket and read with io.ReadFull,
// with no framing, checksums, queues or channels.
func BenchmarkLoopbackRaw(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"128B", 128}, {"64KiB", 64 << 10}} {
		b.Run(size.name, func(b *testing.B) {
			ln := listen(b)
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := ln.Accept()
				if err == nil {
					accepted <- c
				}
			}()
			w, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			r := <-accepted
			defer r.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				buf := make([]byte, size.n)
				br := bufio.NewReaderSize(r, readBufSize)
				for range b.N {
					if _, err := io.ReadFull(br, buf); err != nil {
						return
					}
				}
			}()
			// Small writes are batched the way the transport's writer
			// batches them, so the anchor measures the socket, not syscalls.
			body := make([]byte, size.n)
			batch := max(1, coalesceBytes/size.n)
			buf := make([]byte, 0, batch*size.n)
			b.SetBytes(int64(size.n))
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; {
				buf = buf[:0]
				for j := 0; j < batch && i < b.N; j, i = j+1, i+1 {
					buf = append(buf, body...)
				}
				if _, err := w.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			<-done
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "frames/s")
		})
	}
}
