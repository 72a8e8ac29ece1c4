package main

// CPU per commit. Over the measured window repbench reads the CPU time
// (utime+stime of /proc/PID/stat, which covers every thread, live or
// exited) of each spawned site and of its own process, at the window's
// start and after the last writer finished, and divides by the commits
// counted in the window. Its own process is the load generator: the
// writers, the lag sampler, and with --embedded the master site too. A
// site does not fork, so nothing runs outside these processes; an
// external load command (--load-cmd) is accounted whole, from its rusage
// when it exits, since it runs only over the window.

import (
	"fmt"
	"os"
	"time"
)

// cpuMeter samples the CPU of the sites' processes and of repbench.
type cpuMeter struct {
	pids func() []int // the sites' processes now
}

// cpuSample is the CPU used so far.
type cpuSample struct {
	at    time.Time
	sites time.Duration
	bench time.Duration
	err   error // a site whose CPU could not be read
}

func (m *cpuMeter) sample() cpuSample {
	s := cpuSample{at: time.Now()}
	for _, pid := range m.pids() {
		d, err := procCPU(pid)
		if err != nil {
			s.err = fmt.Errorf("cpu of site process %d: %w", pid, err)
			continue
		}
		s.sites += d
	}
	d, err := procCPU(os.Getpid())
	if err != nil {
		s.err = fmt.Errorf("cpu of repbench: %w", err)
	}
	s.bench = d
	return s
}

// cpuUse is the CPU spent over a window.
type cpuUse struct {
	sites, bench time.Duration
	err          error
	measured     bool
}

func (s cpuSample) minus(from cpuSample) cpuUse {
	err := s.err
	if err == nil {
		err = from.err
	}
	return cpuUse{sites: s.sites - from.sites, bench: s.bench - from.bench, err: err, measured: true}
}

func (u cpuUse) total() time.Duration { return u.sites + u.bench }

// perThousand is the CPU in milliseconds per 1,000 commits.
func (u cpuUse) perThousand(commits uint64) float64 {
	if commits == 0 {
		return 0
	}
	return u.total().Seconds() * 1e6 / float64(commits)
}

// sitePIDs returns the pids of the group's running processes.
func (g *group) sitePIDs() []int {
	var out []int
	for _, p := range g.sites {
		if p.alive() {
			out = append(out, p.cmd.Process.Pid)
		}
	}
	return out
}
