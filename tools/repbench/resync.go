package main

// --resync catchup|init: how fast a client re-synchronises with a master
// that holds many records it lacks, measured like the Berkeley DB
// harness's `run_bdb.sh catchup|init` (../shared/bench) so the two can be
// set side by side.
//
// Each trial starts its own two sites with appointed roles (site 1
// --master, site 2 --client: no elections, so nothing but the re-sync is
// timed), loads the master, and then starts the client:
//
//   - fresh: the client's directory is empty;
//   - lagged: the client joined the empty group, synchronised and was
//     stopped (SIGTERM) before the load; it restarts on its directory.
//
// catchup keeps the master's log (it never removes log files unasked), so
// the client is served from the log; init first archives the master's
// log (POST /v1/admin/archive {"force":true}, with small log files so
// nearly all of them go), so the client needs internal init, which its
// logship_inits_done_total proves. The time runs from the client's
// process start until its /v1/status says sync_state "ready" with
// applied_lsn at the master's lsn, polled every --poll.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// resyncConfig is one series of resync trials.
type resyncConfig struct {
	kind        string   // catchup | init
	starts      []string // fresh, lagged
	runs        int
	records     int
	valueSize   int
	writers     int   // concurrent loaders
	logFileSize int64 // the sites' --log-file-size (0: repnode's default)
	poll        time.Duration
	timeout     time.Duration // longest one re-sync may take
	profileDir  string        // where CPU profiles go ("" = none)
	profileSecs int
	clientDials bool // the client has the lower site id, so it opens the connection
	bucket      string
	group       groupConfig
}

// keySize is the length of every loaded key: 8 bytes, as the Berkeley DB
// harness's big-endian uint64 keys (here 8 hex digits, printable for a URL).
const keySize = 8

func resyncKey(i int) string { return fmt.Sprintf("%08x", i) }

// runResync runs every trial and prints each, then a summary.
func runResync(ctx context.Context, cfg resyncConfig, out io.Writer) error {
	c := newHTTPClient(cfg.writers+4, 30*time.Second)
	fmt.Fprintf(out, "resync %s: %d records of %d-byte keys and %d-byte values (%.1f MB of data), %d loaders, starts %s, %d runs; load %s\n",
		cfg.kind, cfg.records, keySize, cfg.valueSize, float64(cfg.records)*float64(keySize+cfg.valueSize)/1e6,
		cfg.writers, strings.Join(cfg.starts, ","), cfg.runs, loadAvg())
	var all []resyncResult
	for run := 1; run <= cfg.runs; run++ {
		for _, start := range cfg.starts {
			r, err := resyncTrial(ctx, c, cfg, start, run, out)
			if err != nil {
				return fmt.Errorf("%s %s run %d: %w", cfg.kind, start, run, err)
			}
			fmt.Fprintf(out, "run %d: %s\n", run, r.human())
			fmt.Fprintln(out, r.resultLine())
			fmt.Fprintln(out, r.detailLine())
			all = append(all, r)
		}
	}
	resyncSummary(out, all)
	return nil
}

func resyncTrial(ctx context.Context, c *http.Client, cfg resyncConfig, start string, run int, out io.Writer) (res resyncResult, err error) {
	res = resyncResult{kind: cfg.kind, start: start, records: cfg.records, valueSize: cfg.valueSize, keySize: keySize}
	gc := cfg.group
	gc.n, gc.ack = 2, "none"
	if cfg.logFileSize > 0 {
		gc.extra = append(gc.extra, "--log-file-size", strconv.FormatInt(cfg.logFileSize, 10))
	}
	if cfg.profileDir != "" {
		gc.extra = append(gc.extra, "--pprof")
	}
	g, err := prepareGroup(gc)
	if err != nil {
		return res, err
	}
	defer g.close()
	// The transport's rule: of two sites the lower id dials, the higher
	// only accepts. By default the master is site 1, so a starting client
	// waits for the master's next dial (its back-off grows to 2 s while
	// the client is down); --client-dials swaps the ids, as Berkeley DB's
	// client dials its helper at once.
	m, cl := g.sites[0], g.sites[1]
	if cfg.clientDials {
		m, cl = cl, m
	}
	m.args = append(m.args, "--master")
	cl.args = append(cl.args, "--client", "--master-id", strconv.Itoa(m.id))
	res.dialer = "master"
	if cfg.clientDials {
		res.dialer = "client"
	}
	defer func() {
		var died *siteDiedError
		if dead := g.deadSites(); dead != nil && !errors.As(err, &died) {
			err = errors.Join(err, dead)
		}
	}()

	if err := g.start(m); err != nil {
		return res, err
	}
	if _, _, err := waitMaster(ctx, c, []string{m.http}, false, 60*time.Second, g.deadSites); err != nil {
		return res, err
	}
	if start == "lagged" {
		if err := g.start(cl); err != nil {
			return res, err
		}
		if err := waitReady(ctx, c, cl.http, lsnPos{}, time.Now(), 60*time.Second, 0, nil, g.deadSites); err != nil {
			return res, fmt.Errorf("client's first sync: %w", err)
		}
		g.stop(cl)
	}

	t0 := time.Now()
	if err := loadRecords(ctx, m.http, cfg); err != nil {
		return res, fmt.Errorf("loading the master: %w", err)
	}
	res.loadTime = time.Since(t0)
	fmt.Fprintf(out, "run %d %s: loaded %d records in %.2fs (%.0f/s)", run, start, cfg.records, res.loadTime.Seconds(), float64(cfg.records)/res.loadTime.Seconds())
	if cfg.kind == "init" {
		removed, err := archive(ctx, c, m.http)
		if err != nil {
			return res, err
		}
		fmt.Fprintf(out, "; archive removed %d log files", removed)
	}
	fmt.Fprintln(out)
	mst, err := getStatus(ctx, c, m.http)
	if err != nil {
		return res, err
	}
	target, err := parseLSN(mst.LSN)
	if err != nil {
		return res, fmt.Errorf("master status: %w", err)
	}
	if st, err := os.Stat(filepath.Join(m.dir, "data.db")); err == nil {
		res.dataFile = st.Size()
	}

	// The measured part: nothing else of repbench's runs but the poll.
	m0, _ := procCPU(m.cmd.Process.Pid)
	var profDone chan error
	pctx, stopProf := context.WithCancel(ctx)
	defer stopProf()
	t0 = time.Now()
	if err := g.start(cl); err != nil {
		return res, err
	}
	if cfg.profileDir != "" {
		profDone = make(chan error, 1)
		go func() { profDone <- profilePair(pctx, cfg, run, start, m.http, cl.http) }()
	}
	if err := waitReady(ctx, c, cl.http, target, t0, cfg.timeout, cfg.poll, &res.phases, g.deadSites); err != nil {
		return res, err
	}
	res.elapsed = time.Since(t0)
	res.clientCPU, _ = procCPU(cl.cmd.Process.Pid)
	if m1, err := procCPU(m.cmd.Process.Pid); err == nil {
		res.masterCPU = m1 - m0
	}
	res.load = loadAvg()
	if profDone != nil {
		if err := <-profDone; err != nil {
			fmt.Fprintf(out, "run %d %s: profile: %v\n", run, start, err)
		}
	}

	metrics, err := getText(ctx, c, "http://"+cl.http+"/metrics")
	if err != nil {
		return res, err
	}
	if v, err := metricValue(strings.NewReader(metrics), "logship_inits_done_total"); err == nil {
		res.initsDone = int64(v)
	} else {
		return res, err
	}
	if v, err := metricValue(strings.NewReader(metrics), "logship_init_bytes_received_total"); err == nil {
		res.initBytes = int64(v)
	}
	if v, err := metricValue(strings.NewReader(metrics), "logship_log_bytes_received_total"); err == nil {
		res.logBytes = int64(v)
	}
	if cfg.kind == "init" && res.initsDone == 0 {
		return res, errors.New("the client caught up without an internal init (logship_inits_done_total 0): the archive left it the log it needed")
	}
	if cfg.kind == "init" {
		d, err := rawCopy(filepath.Join(m.dir, "data.db"), filepath.Join(g.root, "rawcopy.db"))
		if err != nil {
			return res, fmt.Errorf("raw copy: %w", err)
		}
		res.rawCopy = d
	}
	return res, nil
}

// waitReady polls addr's /v1/status every poll until it reports
// sync_state "ready" with applied_lsn at or past target, or d passes.
// Errors while the process starts (nothing listening yet) are retried.
// ph, if not nil, gets the phases seen, timed from t0.
func waitReady(ctx context.Context, c *http.Client, addr string, target lsnPos, t0 time.Time, d, poll time.Duration, ph *phases, abort func() error) error {
	if poll <= 0 {
		poll = 10 * time.Millisecond
	}
	deadline := time.Now().Add(d)
	var last status
	var lastErr error
	for {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := getStatus(sctx, c, addr)
		cancel()
		if err == nil && ph != nil {
			ph.observe(st, time.Since(t0))
		}
		if err == nil && caughtUp(st, target) {
			if ph != nil {
				ph.ready = time.Since(t0)
			}
			return nil
		}
		if err == nil {
			last = st
		} else {
			lastErr = err
		}
		if abort != nil {
			if err := abort(); err != nil {
				return err
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not caught up to %s after %v (sync_state %q, applied_lsn %s; last error %v)",
				addr, target, d, last.SyncState, last.AppliedLSN, lastErr)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

// loadRecords writes cfg.records keys (each once) with cfg.writers
// concurrent connections to the master.
func loadRecords(ctx context.Context, addr string, cfg resyncConfig) error {
	value := bytes.Repeat([]byte{'L'}, cfg.valueSize)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, cfg.writers)
	for range cfg.writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kc := newKVConn(addr, 30*time.Second)
			defer kc.close()
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.records || ctx.Err() != nil {
					return
				}
				if _, err := kc.put(ctx, cfg.bucket, resyncKey(i), value); err != nil {
					errs <- fmt.Errorf("key %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return ctx.Err()
	}
}

// archive asks the master for a forced archive and returns how many log
// files it removed.
func archive(ctx context.Context, c *http.Client, addr string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/admin/archive", strings.NewReader(`{"force":true}`))
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("archive: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("archive: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	var a struct {
		Removed []string `json:"removed"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return 0, fmt.Errorf("archive answer: %w", err)
	}
	return len(a.Removed), nil
}

func getText(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), nil
}

// procCPU returns a process's user+system CPU time so far (Linux only).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStat(b)
}

// rawCopy is the physical floor of an internal init: src read and written
// to dst in 1 MiB blocks, like cp, then fsynced; dst is removed after.
func rawCopy(src, dst string) (time.Duration, error) {
	t0 := time.Now()
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	outf, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, err
	}
	defer os.Remove(dst)
	// A plain buffer: io.Copy from an *os.File would splice or
	// copy_file_range, which a file system may turn into a reflink and
	// copy nothing.
	buf := make([]byte, 1<<20)
	for {
		n, rerr := in.Read(buf)
		if n > 0 {
			if _, err := outf.Write(buf[:n]); err != nil {
				outf.Close()
				return 0, err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			outf.Close()
			return 0, rerr
		}
	}
	if err := outf.Sync(); err != nil {
		outf.Close()
		return 0, err
	}
	if err := outf.Close(); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// profilePair takes CPU profiles of the client (from as soon as its HTTP
// answers) and the master over the same profileSecs, into profileDir.
func profilePair(ctx context.Context, cfg resyncConfig, run int, start, master, client string) error {
	pc := &http.Client{Transport: withToken(http.DefaultTransport), Timeout: time.Duration(cfg.profileSecs+30) * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := getStatus(sctx, pc, client)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("client HTTP never answered: %w", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, site := range []struct{ name, addr string }{{"client", client}, {"master", master}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := filepath.Join(cfg.profileDir, fmt.Sprintf("%s-%s-run%d-%s.pprof", cfg.kind, start, run, site.name))
			body, err := getText(ctx, pc, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", site.addr, cfg.profileSecs))
			if err == nil {
				err = os.WriteFile(path, []byte(body), 0o644)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
