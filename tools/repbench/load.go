package main

// The load run: N writers, one PUT (one key, one transaction) per request,
// against the master, for a warm-up and then a measured duration, with the
// master's replication lag sampled alongside.

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
	addrs     []string // the sites' HTTP addresses
	writers   int
	valueSize int
	warmup    time.Duration
	duration  time.Duration
	bucket    string
	variant   string
	ack       string        // as the sites were started, or "" to read it from the master
	lagEvery  time.Duration // how often the master's /v1/status is sampled
	connected bool          // wait until every site is connected before starting
	abort     func() error  // if not nil, stops the wait for a master (a spawned site died)
}

// writerStats is one writer's count over the measured window.
type writerStats struct {
	h          hist
	permFailed uint64
	errors     uint64
	lastErr    error
	finished   time.Time // when its last measured request ended
}

// runLoad runs the load and returns its result. It stops early, with an
// error, when ctx ends.
func runLoad(ctx context.Context, c *http.Client, cfg loadConfig, out io.Writer) (loadResult, error) {
	mi, mst, err := waitMaster(ctx, c, cfg.addrs, cfg.connected, 60*time.Second, cfg.abort)
	if err != nil {
		return loadResult{}, err
	}
	master := cfg.addrs[mi]
	ack := cfg.ack
	if ack == "" {
		ack = mst.Ack
	}
	res := loadResult{variant: cfg.variant, ack: ack, sites: len(cfg.addrs), writers: cfg.writers, size: cfg.valueSize}
	fmt.Fprintf(out, "master: site %d at %s (gen %d); %d writers, %d-byte values, warm-up %v, measuring %v\n",
		mst.ID, master, mst.Gen, cfg.writers, cfg.valueSize, cfg.warmup, cfg.duration)
	res.loadBefore = loadAvg()

	value := make([]byte, cfg.valueSize)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	nonce := strconv.FormatInt(time.Now().UnixNano()%(1<<40), 36)
	start := time.Now()
	measureFrom := start.Add(cfg.warmup)
	end := measureFrom.Add(cfg.duration)

	// The lag sampler runs over the measured window.
	lagCtx, stopLag := context.WithCancel(ctx)
	lagDone := make(chan struct{})
	go func() {
		defer close(lagDone)
		res.maxLag, res.lagSamples = sampleLag(lagCtx, c, master, measureFrom, cfg.lagEvery)
	}()

	stats := make([]writerStats, cfg.writers)
	var wg sync.WaitGroup
	for w := range cfg.writers {
		wg.Add(1)
		go func(w int, st *writerStats) {
			defer wg.Done()
			prefix := nonce + "-w" + strconv.Itoa(w) + "-"
			key := make([]byte, 0, 64)
			kc := newKVConn(master, c.Timeout)
			defer kc.close()
			for i := 0; ; i++ {
				t0 := time.Now()
				if !t0.Before(end) || ctx.Err() != nil {
					return
				}
				key = strconv.AppendInt(append(key[:0], prefix...), int64(i), 10)
				r, err := kc.put(ctx, cfg.bucket, string(key), value)
				t1 := time.Now()
				if !t0.Before(measureFrom) {
					st.finished = t1
					if err != nil {
						st.errors++
						st.lastErr = err
					} else {
						st.h.Record(t1.Sub(t0))
						if !r.permanent {
							st.permFailed++
						}
					}
				}
				if err != nil {
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
	stopLag()
	<-lagDone
	if ctx.Err() != nil {
		return loadResult{}, ctx.Err()
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

// sampleLag polls addr's /v1/status every `every` from `from` until ctx
// ends and returns the largest lag_bytes over its sites and the number of
// samples taken.
func sampleLag(ctx context.Context, c *http.Client, addr string, from time.Time, every time.Duration) (int64, int) {
	if every <= 0 {
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
		st, err := getStatus(sctx, c, addr)
		cancel()
		if err == nil {
			maxLag = max(maxLag, st.maxLag())
			n++
		}
		select {
		case <-ctx.Done():
			return maxLag, n
		case <-t.C:
		}
	}
}
