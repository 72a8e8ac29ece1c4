package main

// --spawn: a local group of repnode processes on 127.0.0.1, each in its own
// directory under one temporary root, stopped and removed by close.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// groupConfig says how to start the sites.
type groupConfig struct {
	bin   string   // the repnode binary
	n     int      // number of sites
	ack   string   // --ack
	extra []string // more repnode flags for every site
	keep  bool     // keep the directory (and logs) after close
	resp  bool     // give every site a --resp listener
}

type proc struct {
	id       int
	dir      string
	listen   string // replication address
	http     string // client API address
	resp     string // RESP address, if the group has them
	args     []string
	logPath  string
	cmd      *exec.Cmd
	exited   chan struct{}
	exitErr  error
	starts   int
	stopping bool
}

// group is a running local group.
type group struct {
	cfg   groupConfig
	root  string
	sites []*proc
	mu    sync.Mutex
}

// freeAddrs returns n distinct 127.0.0.1 addresses nobody listens on right
// now. The listeners stay open until all n are chosen, so the kernel cannot
// hand out one port twice.
func freeAddrs(n int) ([]string, error) {
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// siteArgs returns the repnode command line of site id; peers are the
// other sites' replication addresses by id.
func siteArgs(id int, dir, listen, httpAddr string, peers map[int]string, ack string, extra []string) []string {
	var ps []string
	for pid := 1; pid <= len(peers)+1; pid++ {
		if a, ok := peers[pid]; ok {
			ps = append(ps, fmt.Sprintf("%d=%s", pid, a))
		}
	}
	args := []string{"--dir", dir, "--id", fmt.Sprint(id), "--listen", listen, "--http", httpAddr,
		"--peers", strings.Join(ps, ","), "--log-level", "warn"}
	if ack != "" {
		args = append(args, "--ack", ack)
	}
	return append(args, extra...)
}

// startGroup creates the directories, picks free ports and starts every
// site. On error everything started is stopped and removed.
func startGroup(cfg groupConfig) (_ *group, err error) {
	g, err := prepareGroup(cfg)
	if err != nil {
		return nil, err
	}
	for _, p := range g.sites {
		if err := g.start(p); err != nil {
			g.close()
			return nil, err
		}
	}
	return g, nil
}

// prepareGroup creates the root directory, picks free ports and sets every
// site's command line, but starts none (the resync mode starts its client
// late, on purpose).
func prepareGroup(cfg groupConfig) (_ *group, err error) {
	if cfg.n < 1 {
		return nil, errors.New("--spawn needs at least 1 site")
	}
	bin, err := exec.LookPath(cfg.bin)
	if err != nil {
		return nil, fmt.Errorf("--repnode %s: %w (build it with: go build -o bin/ ./cmd/...)", cfg.bin, err)
	}
	cfg.bin = bin
	root, err := os.MkdirTemp("", "repbench-")
	if err != nil {
		return nil, err
	}
	g := &group{cfg: cfg, root: root}
	defer func() {
		if err != nil {
			g.close()
		}
	}()
	per := 2
	if cfg.resp {
		per = 3
	}
	addrs, err := freeAddrs(per * cfg.n)
	if err != nil {
		return nil, err
	}
	for i := 1; i <= cfg.n; i++ {
		a := addrs[per*(i-1):]
		p := &proc{
			id: i, dir: filepath.Join(root, fmt.Sprintf("site%d", i)), logPath: filepath.Join(root, fmt.Sprintf("site%d.log", i)),
			listen: a[0], http: a[1],
		}
		if cfg.resp {
			p.resp = a[2]
		}
		g.sites = append(g.sites, p)
	}
	for _, p := range g.sites {
		peers := map[int]string{}
		for _, o := range g.sites {
			if o != p {
				peers[o.id] = o.listen
			}
		}
		p.args = siteArgs(p.id, p.dir, p.listen, p.http, peers, cfg.ack, cfg.extra)
		if p.resp != "" {
			p.args = append(p.args, "--resp", p.resp)
		}
	}
	return g, nil
}

// httpAddrs returns the sites' client API addresses.
func (g *group) httpAddrs() []string {
	out := make([]string, len(g.sites))
	for i, p := range g.sites {
		out[i] = p.http
	}
	return out
}

// respAddrs returns the sites' RESP addresses.
func (g *group) respAddrs() []string {
	out := make([]string, len(g.sites))
	for i, p := range g.sites {
		out[i] = p.resp
	}
	return out
}

// start (re)starts a site with its command line; its log is appended to.
func (g *group) start(p *proc) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.starts++
	fmt.Fprintf(logf, "=== repbench: start %d: %s %s\n", p.starts, g.cfg.bin, strings.Join(p.args, " "))
	cmd := exec.Command(g.cfg.bin, p.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start site %d: %w", p.id, err)
	}
	p.cmd, p.exited, p.exitErr, p.stopping = cmd, make(chan struct{}), nil, false
	go func(p *proc, cmd *exec.Cmd, done chan struct{}) {
		err := cmd.Wait()
		logf.Close()
		g.mu.Lock()
		p.exitErr = err
		g.mu.Unlock()
		close(done)
	}(p, cmd, p.exited)
	return nil
}

// alive reports whether the site's process is running.
func (p *proc) alive() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (g *group) kill(p *proc) {
	if !p.alive() {
		return
	}
	g.mu.Lock()
	p.stopping = true
	g.mu.Unlock()
	p.cmd.Process.Kill()
	<-p.exited
}

// stop sends SIGTERM, then SIGKILL if the site is still up after 5 s.
func (g *group) stop(p *proc) {
	if !p.alive() {
		return
	}
	g.mu.Lock()
	p.stopping = true
	g.mu.Unlock()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// siteDiedError is a spawned site that exited unasked.
type siteDiedError struct{ msg string }

func (e *siteDiedError) Error() string { return e.msg }

// deadSites returns an error naming every site that exited without being
// asked to, with the tail of its log.
func (g *group) deadSites() error {
	var errs []error
	for _, p := range g.sites {
		if p.cmd == nil || p.alive() {
			continue
		}
		g.mu.Lock()
		stopping, exitErr := p.stopping, p.exitErr
		g.mu.Unlock()
		if !stopping {
			errs = append(errs, &siteDiedError{fmt.Sprintf("site %d exited (%v); end of %s:\n%s", p.id, exitErr, p.logPath, tail(p.logPath, 15))})
		}
	}
	return errors.Join(errs...)
}

// close stops every site (in parallel) and removes the root directory,
// unless keep was asked for.
func (g *group) close() {
	var wg sync.WaitGroup
	for _, p := range g.sites {
		wg.Add(1)
		go func(p *proc) { defer wg.Done(); g.stop(p) }(p)
	}
	wg.Wait()
	if g.cfg.keep {
		fmt.Fprintf(os.Stderr, "repbench: kept %s\n", g.root)
		return
	}
	os.RemoveAll(g.root)
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > 64<<10 {
		f.Seek(-64<<10, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}
