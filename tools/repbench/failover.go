package main

// failover mode: a spawned group is written to steadily; the master is
// killed with SIGKILL; the time from the kill to the first write a
// surviving site accepts (200 OK) is one trial. The killed site is then
// restarted on its own directory and must rejoin before the next trial.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type failoverConfig struct {
	runs    int
	tight   bool
	settle  time.Duration // steady writing before the kill
	timeout time.Duration // longest wait for a new master's first write
	bucket  string
	size    int
	freeze  bool // SIGSTOP the master instead of SIGKILL
}

// tightFlags are the repnode flags of --tight: failure detection in the
// 100 ms class, like the raft harness's -fast, and elect's TightConfig-like
// vote wait and retry.
var tightFlags = []string{"--heartbeat", "30ms", "--heartbeat-monitor", "100ms", "--election-timeout", "200ms",
	"--vote-wait", "20ms", "--election-retry", "100ms"}

// trial is one failover measurement.
type trial struct {
	killed    int           // site id killed
	gen       uint64        // its generation as master
	winner    int           // site id that accepted the first write
	elected   time.Duration // kill to a survivor answering role=master
	write     time.Duration // kill to the first accepted write
	permanent bool
	before    uint64 // writes accepted before the kill in this trial
}

func runFailover(ctx context.Context, g *group, c *http.Client, cfg failoverConfig, out io.Writer) ([]trial, error) {
	value := make([]byte, cfg.size)
	for i := range value {
		value[i] = 'f'
	}
	var trials []trial
	for r := 1; r <= cfg.runs; r++ {
		t, err := failoverTrial(ctx, g, c, cfg, r, value)
		if err != nil {
			return trials, fmt.Errorf("trial %d: %w", r, err)
		}
		trials = append(trials, t)
		verb := "killed (SIGKILL)"
		if cfg.freeze {
			verb = "froze (SIGSTOP)"
		}
		fmt.Fprintf(out, "trial %d: %s master site %d (gen %d) after %d steady writes; site %d elected after %v, first write accepted after %v (permanent=%v); load %s\n",
			r, verb, t.killed, t.gen, t.before, t.winner, t.elected.Round(100*time.Microsecond), t.write.Round(100*time.Microsecond), t.permanent, loadAvg())
	}
	return trials, nil
}

func failoverTrial(ctx context.Context, g *group, c *http.Client, cfg failoverConfig, run int, value []byte) (trial, error) {
	addrs := g.httpAddrs()
	mi, mst, err := waitMaster(ctx, c, addrs, true, 60*time.Second, g.deadSites)
	if err != nil {
		return trial{}, err
	}
	victim := g.sites[mi]
	tr := trial{killed: victim.id, gen: mst.Gen}

	// Steady writes to the master until the kill.
	steadyCtx, stopSteady := context.WithCancel(ctx)
	var steady atomic.Uint64
	steadyDone := make(chan struct{})
	go func() {
		defer close(steadyDone)
		for i := 0; steadyCtx.Err() == nil; i++ {
			if _, err := put(steadyCtx, c, victim.http, cfg.bucket, "steady-"+strconv.Itoa(run)+"-"+strconv.Itoa(i), value); err == nil {
				steady.Add(1)
			} else {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()
	select {
	case <-ctx.Done():
		stopSteady()
		<-steadyDone
		return trial{}, ctx.Err()
	case <-time.After(cfg.settle):
	}
	if steady.Load() == 0 {
		stopSteady()
		<-steadyDone
		return trial{}, fmt.Errorf("no write accepted by master site %d in %v of steady load", victim.id, cfg.settle)
	}

	// The probes start before the kill so none of their set-up is timed:
	// one goroutine per survivor writes as soon as it is released, and
	// again every 2 ms until one write is accepted.
	probeCtx, stopProbes := context.WithTimeout(ctx, cfg.timeout)
	defer stopProbes()
	release := make(chan struct{})
	type win struct {
		site int
		at   time.Time
		perm bool
	}
	wins := make(chan win, len(g.sites))
	elected := make(chan time.Time, 1)
	var wg sync.WaitGroup
	for _, p := range g.sites {
		if p == victim {
			continue
		}
		wg.Add(1)
		go func(p *proc) {
			defer wg.Done()
			<-release
			for i := 0; probeCtx.Err() == nil; i++ {
				r, err := put(probeCtx, c, p.http, cfg.bucket, "failover-"+strconv.Itoa(run)+"-"+strconv.Itoa(p.id)+"-"+strconv.Itoa(i), value)
				if err == nil {
					wins <- win{site: p.id, at: time.Now(), perm: r.permanent}
					stopProbes()
					return
				}
				select {
				case <-probeCtx.Done():
				case <-time.After(2 * time.Millisecond):
				}
			}
		}(p)
	}
	// Election time, as the raft harness measures it: a survivor says it is
	// master.
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-release
		for probeCtx.Err() == nil {
			for _, p := range g.sites {
				if p == victim {
					continue
				}
				if st, err := getStatus(probeCtx, c, p.http); err == nil && st.Role == "master" {
					elected <- time.Now()
					return
				}
			}
			select {
			case <-probeCtx.Done():
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()

	stopSteady()
	<-steadyDone
	tr.before = steady.Load()
	t0 := time.Now()
	if cfg.freeze {
		// A hung master: its connections stay open, so only missed
		// heartbeats reveal it. It is killed once the trial is timed.
		victim.cmd.Process.Signal(syscall.SIGSTOP)
	} else {
		g.kill(victim)
	}
	close(release)
	wg.Wait()
	g.kill(victim)
	if ctx.Err() != nil {
		return trial{}, ctx.Err()
	}
	select {
	case w := <-wins:
		tr.winner, tr.write, tr.permanent = w.site, w.at.Sub(t0), w.perm
	default:
		return trial{}, errors.Join(fmt.Errorf("no surviving site accepted a write within %v of killing site %d", cfg.timeout, victim.id), g.deadSites())
	}
	select {
	case at := <-elected:
		tr.elected = at.Sub(t0)
	default:
		tr.elected = tr.write // the write won before the status poll saw it
	}

	// Bring the killed site back and wait until it is a connected client.
	if err := g.start(victim); err != nil {
		return trial{}, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, mst, err := findMaster(ctx, c, addrs)
		vst, verr := getStatus(ctx, c, victim.http)
		if err == nil && mst.allConnected() && verr == nil && vst.Role == "client" && vst.Master == mst.ID {
			break
		}
		if dead := g.deadSites(); dead != nil {
			return trial{}, dead
		}
		if time.Now().After(deadline) {
			return trial{}, fmt.Errorf("restarted site %d did not rejoin within 60s (status %+v, %v; master %v)", victim.id, vst, verr, err)
		}
		select {
		case <-ctx.Done():
			return trial{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return tr, nil
}
