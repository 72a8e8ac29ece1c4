package main

// The load run: N writers, one write (one key, one transaction) per
// request, against the master (over HTTP, RESP, or in-process), for a
// warm-up and then a measured duration, with the master's replication lag
// and the CPU of every process involved sampled alongside.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

type loadConfig struct {
	writers   int
	pipeline  int // requests a writer sends before reading their answers
	valueSize int
	warmup    time.Duration
	duration  time.Duration
	bucket    string
	variant   string
	ack       string
	sites     int
	master    string // the master, for the header line
	// newWriter opens writer w's way to the master (its own connection,
	// or the in-process site).
	newWriter func(w int) loadWriter
	lagEvery  time.Duration
	lag       func(context.Context) (int64, error) // the largest lag over the clients; nil = not sampled
	cpu       *cpuMeter                            // nil = CPU not measured
}

// reply is one request's answer: when it arrived, whether the write is
// permanent, or why it failed.
type reply struct {
	at   time.Time
	perm bool
	err  error
}

// loadWriter is one writer's way to the master. batch sends one write per
// key (all at once when there are several: pipelined) and fills out[i]
// with key i's answer.
type loadWriter interface {
	batch(ctx context.Context, keys [][]byte, value []byte, out []reply)
	close()
}

// httpWriter is a writer over HTTP: one PUT at a time.
type httpWriter struct {
	kc     *kvConn
	bucket string
}

func (h *httpWriter) batch(ctx context.Context, keys [][]byte, value []byte, out []reply) {
	for i, k := range keys {
		r, err := h.kc.put(ctx, h.bucket, string(k), value)
		out[i] = reply{at: time.Now(), perm: r.permanent, err: err}
	}
}

func (h *httpWriter) close() { h.kc.close() }

// writerStats is one writer's count over the measured window.
type writerStats struct {
	h          hist
	permFailed uint64
	errors     uint64
	lastErr    error
	finished   time.Time // when its last measured request ended
}

// runLoad runs the load against a master already found and returns its
// result. It stops early, with an error, when ctx ends.
func runLoad(ctx context.Context, cfg loadConfig, out io.Writer) (loadResult, error) {
	pipe := max(cfg.pipeline, 1)
	res := loadResult{variant: cfg.variant, ack: cfg.ack, sites: cfg.sites, writers: cfg.writers, size: cfg.valueSize, pipeline: pipe}
	fmt.Fprintf(out, "master: %s; %d writers, %d-byte values, warm-up %v, measuring %v\n",
		cfg.master, cfg.writers, cfg.valueSize, cfg.warmup, cfg.duration)
	res.loadBefore = loadAvg()

	value := make([]byte, cfg.valueSize)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	nonce := strconv.FormatInt(time.Now().UnixNano()%(1<<40), 36)
	start := time.Now()
	measureFrom := start.Add(cfg.warmup)
	end := measureFrom.Add(cfg.duration)

	// The lag sampler runs over the measured window; the CPU is sampled
	// at its start (and again when the writers are done).
	lagCtx, stopLag := context.WithCancel(ctx)
	lagDone := make(chan struct{})
	go func() {
		defer close(lagDone)
		res.maxLag, res.lagSamples = sampleLag(lagCtx, cfg.lag, measureFrom, cfg.lagEvery)
	}()
	var cpu0 cpuSample
	cpuDone := make(chan struct{})
	go func() {
		defer close(cpuDone)
		if cfg.cpu == nil {
			return
		}
		select {
		case <-lagCtx.Done():
			return
		case <-time.After(time.Until(measureFrom)):
		}
		cpu0 = cfg.cpu.sample()
	}()

	stats := make([]writerStats, cfg.writers)
	var wg sync.WaitGroup
	for w := range cfg.writers {
		wg.Add(1)
		go func(w int, st *writerStats) {
			defer wg.Done()
			prefix := nonce + "-w" + strconv.Itoa(w) + "-"
			keys := make([][]byte, pipe)
			for j := range keys {
				keys[j] = make([]byte, 0, 64)
			}
			replies := make([]reply, pipe)
			lw := cfg.newWriter(w)
			defer lw.close()
			for i := 0; ; i += pipe {
				t0 := time.Now()
				if !t0.Before(end) || ctx.Err() != nil {
					return
				}
				for j := range keys {
					keys[j] = strconv.AppendInt(append(keys[j][:0], prefix...), int64(i+j), 10)
				}
				lw.batch(ctx, keys, value, replies)
				failed := false
				for _, r := range replies {
					if r.err != nil {
						failed = true
					}
					if t0.Before(measureFrom) {
						continue
					}
					st.finished = r.at
					if r.err != nil {
						st.errors++
						st.lastErr = r.err
						continue
					}
					st.h.Record(r.at.Sub(t0))
					if !r.perm {
						st.permFailed++
					}
				}
				if failed {
					// Do not spin on a failing site.
					select {
					case <-ctx.Done():
						return
					case <-time.After(10 * time.Millisecond):
					}
				}
			}
		}(w, &stats[w])
	}
	wg.Wait()
	var cpu1 cpuSample
	if cfg.cpu != nil {
		cpu1 = cfg.cpu.sample()
	}
	stopLag()
	<-lagDone
	<-cpuDone
	if ctx.Err() != nil {
		return loadResult{}, ctx.Err()
	}
	if cfg.cpu != nil && !cpu0.at.IsZero() {
		res.cpu = cpu1.minus(cpu0)
	}

	last := measureFrom
	for i := range stats {
		st := &stats[i]
		res.h.Merge(&st.h)
		res.permFailed += st.permFailed
		res.errors += st.errors
		if st.lastErr != nil {
			res.lastErr = st.lastErr
		}
		if st.finished.After(last) {
			last = st.finished
		}
	}
	res.elapsed = last.Sub(measureFrom)
	res.loadAfter = loadAvg()
	if res.h.Count() == 0 {
		if res.lastErr != nil {
			return res, fmt.Errorf("no write succeeded: %w", res.lastErr)
		}
		return res, errors.New("no write completed in the measured window")
	}
	return res, nil
}

// sampleLag calls lag every `every` from `from` until ctx ends and
// returns the largest lag it answered and the number of samples taken.
func sampleLag(ctx context.Context, lag func(context.Context) (int64, error), from time.Time, every time.Duration) (int64, int) {
	if every <= 0 || lag == nil {
		return 0, 0
	}
	select {
	case <-ctx.Done():
		return 0, 0
	case <-time.After(time.Until(from)):
	}
	var maxLag int64
	n := 0
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		l, err := lag(sctx)
		cancel()
		if err == nil {
			maxLag = max(maxLag, l)
			n++
		}
		select {
		case <-ctx.Done():
			return maxLag, n
		case <-t.C:
		}
	}
}

// httpLag is the lag sampler over the master's GET /v1/status.
func httpLag(c *http.Client, addr string) func(context.Context) (int64, error) {
	return func(ctx context.Context) (int64, error) {
		st, err := getStatus(ctx, c, addr)
		return st.maxLag(), err
	}
}
