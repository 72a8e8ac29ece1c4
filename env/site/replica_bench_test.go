package site

import (
	"context"
	"errors"
	"fmt"
	"logship/env"
	"logship/internal/testwait"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"logship/rep"
	"logship/rep/transport"
	"logship/wal/lsn"
)

func benchEnvConfig() env.Config {
	c := env.DefaultConfig()
	c.Logger = discardLogger()
	return c
}

// startTCPGroup starts sites ids in one process, each with its own
// directory, over the real TCP transport on 127.0.0.1.
func startTCPGroup(b *testing.B, ids []SiteID, mod func(*Config)) []*repSite {
	addrs := map[transport.ID]string{}
	for _, id := range ids {
		// A free port: listen, note it, let it go for the transport.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addrs[transport.ID(id)] = ln.Addr().String()
		ln.Close()
	}
	var sites []*repSite
	for _, id := range ids {
		tc := transport.DefaultConfig()
		tc.GroupName, tc.SelfID, tc.ListenAddr = "bench", transport.ID(id), addrs[transport.ID(id)]
		tc.Logger = discardLogger()
		tc.Peers = map[transport.ID]string{}
		for o, a := range addrs {
			if o != transport.ID(id) {
				tc.Peers[o] = a
			}
		}
		tr, err := transport.New(tc)
		if err != nil {
			b.Fatal(err)
		}
		dir := b.TempDir()
		e, err := env.Open(dir, benchEnvConfig())
		if err != nil {
			tr.Close()
			b.Fatal(err)
		}
		sites = append(sites, startRepSiteOn(b, &repSite{id: id, dir: dir, env: e, tr: tr, events: make(chan Event, 4096)}, ids, benchEnvConfig(), mod))
	}
	return sites
}

// One master and two clients in one process, each with its own directory
// (real fsyncs), over the in-memory network (mem) or the real TCP one
// on loopback (tcp); 128-byte values; commits/s with 1, 16 and 64
// concurrent committers under quorum and none. The tcp rows are what an
// embedder gets from the engine itself: no HTTP, no process boundary.
func BenchmarkReplicatedCommit(b *testing.B) {
	for _, tname := range []string{"mem", "tcp"} {
		for _, policy := range []rep.AckPolicy{rep.AckQuorum, rep.AckNone} {
			for _, committers := range []int{1, 16, 64} {
				benchReplicatedCommit(b, tname, policy, committers)
			}
		}
	}
}

func benchReplicatedCommit(b *testing.B, tname string, policy rep.AckPolicy, committers int) {
	name := fmt.Sprintf("ack=%s/committers=%d", policy, committers)
	if tname == "tcp" {
		name = "tcp/" + name // the in-memory rows keep their names
	}
	b.Run(name, func(b *testing.B) {
		ids := []SiteID{1, 2, 3}
		setPolicy := func(c *Config) { c.AckPolicy = policy }
		var sites []*repSite
		if tname == "tcp" {
			sites = startTCPGroup(b, ids, setPolicy)
		} else {
			net := newTestNet(b)
			for _, id := range ids {
				sites = append(sites, startRepSite(b, net, id, ids, b.TempDir(), benchEnvConfig(), setPolicy))
			}
		}
		if err := sites[0].e.StartMaster(1); err != nil {
			b.Fatal(err)
		}
		for _, s := range sites[1:] {
			if err := s.e.StartClient(1); err != nil {
				b.Fatal(err)
			}
		}
		m := sites[0].e
		val := make([]byte, 128)
		tok := repPut(b, m, "warm", "up")
		for _, s := range sites[1:] {
			s.caughtUp(b, time.Minute, tok)
		}
		var next, notPerm atomic.Int64
		mlog0 := sites[0].env.Stats()
		var crecs0, cfsyncs0 uint64
		for _, s := range sites[1:] {
			st := s.e.Stats()
			crecs0, cfsyncs0 = crecs0+st.LogRecords, cfsyncs0+st.Fsyncs
		}
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		var wg sync.WaitGroup
		for w := range committers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1)
					if i > int64(b.N) {
						return
					}
					key := fmt.Appendf(nil, "w%02d-%09d", w, i)
					tok, err := m.Update(context.Background(), func(tx *env.Tx) error { return tx.Put("b", key, val) })
					if err != nil {
						b.Error(err)
						return
					}
					if !tok.Permanent {
						notPerm.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		el := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(b.N)/el.Seconds(), "commits/s")
		b.ReportMetric(float64(notPerm.Load()), "not-permanent")
		// Group commit on each side: how many commits one master
		// fsync carries, how many records one client fsync does.
		if syncs := sites[0].env.Stats().Sub(mlog0).FsyncCount; syncs > 0 {
			b.ReportMetric(float64(b.N)/float64(syncs), "commits/master-fsync")
		}
		var crecs, cfsyncs uint64
		for _, s := range sites[1:] {
			st := s.e.Stats()
			crecs, cfsyncs = crecs+st.LogRecords, cfsyncs+st.Fsyncs
		}
		if cfsyncs > cfsyncs0 {
			b.ReportMetric(float64(crecs-crecs0)/float64(cfsyncs-cfsyncs0), "records/client-fsync")
		}
	})
}

// Catch-up of a client 100k records (128-byte values) behind, in MB/s of
// log payload, against reading the same log locally with a wal reader.
func BenchmarkCatchUp100kRecords(b *testing.B) {
	const records = 100_000
	net := newTestNet(b)
	ids := []SiteID{1, 2}
	mdir := b.TempDir()
	// Build the master's log directly (one fsync at the end).
	pre, err := env.Open(mdir, benchEnvConfig())
	if err != nil {
		b.Fatal(err)
	}
	pre.Admit(1)
	val := make([]byte, 128)
	var ps []*env.Pending
	for i := range records {
		p, err := pre.Append(context.Background(), func(tx *env.Tx) error {
			return tx.Put("b", fmt.Appendf(nil, "k%09d", i), val)
		})
		if err != nil {
			b.Fatal(err)
		}
		ps = append(ps, p)
		if len(ps) == 1000 || i == records-1 {
			// One group commit per thousand: each member's Durable waits
			// for the others', so they are called concurrently.
			var wg sync.WaitGroup
			errs := make([]error, len(ps))
			for j, p := range ps {
				wg.Go(func() { _, errs[j] = p.Durable() })
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				b.Fatal(err)
			}
			ps = ps[:0]
		}
	}
	last := pre.Stats().LastLSN

	// Local read of the same log, through the same reader rep serves
	// from.
	var bytes int64
	localStart := time.Now()
	rd := pre.Replica()
	n := 0
	for at := lsn.Zero; ; {
		rec, err := rd.Next(at)
		if errors.Is(err, rep.ErrNotFound) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		bytes += int64(len(rec.Payload))
		at = rec.LSN
		n++
	}
	local := time.Since(localStart)
	if err := pre.Close(); err != nil {
		b.Fatal(err)
	}
	m := startRepSite(b, net, 1, ids, mdir, benchEnvConfig(), func(c *Config) { c.AckPolicy = rep.AckNone })
	if err := m.e.StartMaster(1); err != nil {
		b.Fatal(err)
	}
	if n != records {
		b.Fatalf("read %d records", n)
	}
	localMBs := float64(bytes) / 1e6 / local.Seconds()

	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := startRepSite(b, net, 2, ids, b.TempDir(), benchEnvConfig(), nil)
		b.StartTimer()
		start := time.Now()
		if err := c.e.StartClient(1); err != nil {
			b.Fatal(err)
		}
		testwait.For(b, 5*time.Minute, "catch-up", func() bool {
			st := c.status(b)
			return !st.DurableLSN.Less(last)
		})
		total += time.Since(start)
		b.StopTimer()
		c.stop()
		b.StartTimer()
	}
	b.StopTimer()
	catchMBs := float64(bytes) * float64(b.N) / 1e6 / total.Seconds()
	b.ReportMetric(catchMBs, "catchup-MB/s")
	b.ReportMetric(localMBs, "local-read-MB/s")
	b.ReportMetric(catchMBs/localMBs, "catchup/local")
}
