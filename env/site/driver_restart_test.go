package site

import (
	"fmt"
	"logship/env"
	"logship/internal/testwait"
	"strings"
	"testing"

	"logship/rep"
	"logship/rep/transport"
)

// A client restarted (process restart: environment closed and reopened)
// while its master's generation is unchanged resumes warm: a VERIFY of
// its last record confirms it (logs of one generation are prefixes of
// the master's), nothing is rolled back or re-initialised, and the master
// ships only the records committed while it was down.
func TestDriverRestartSameGenerationResumesWarm(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		s := startGroup(t, net, 2, testConfig(), func(_ SiteID, c *Config) { c.AckPolicy = rep.AckNone })
		var tok env.Token
		for i := range 50 {
			tok = repPut(t, s[0].e, fmt.Sprint("k", i), strings.Repeat("v", 100))
		}
		s[1].caughtUp(t, within, tok)
		s[1].stop()
		s[0].waitEvent(t, within, rep.EventConnectBroken)
		before := s[0].stats(t)
		var during uint64
		for i := range 5 {
			during += uint64(len(payloadOf(t, s[0].env, repPut(t, s[0].e, fmt.Sprint("d", i), "w").LSN)))
		}
		end := s[0].status(t).LSN

		c := startRepSite(t, net, 2, []SiteID{1, 2}, s[1].dir, testConfig(), func(c *Config) { c.AckPolicy = rep.AckNone })
		if err := c.e.StartClient(1); err != nil {
			t.Fatal(err)
		}
		c.caughtUp(t, within, env.Token{LSN: end})
		d, cs := s[0].stats(t).Sub(before.Stats), c.stats(t)
		if d.LogBytesSent != during {
			t.Fatalf("master sent %d payload bytes to the restarted client; the records committed while it was down hold %d", d.LogBytesSent, during)
		}
		if cs.Rollbacks != 0 || cs.Inits != 0 || cs.LogDuplicated != 0 {
			t.Fatalf("restart was not warm: rollbacks %d, inits %d, duplicates %d", cs.Rollbacks, cs.Inits, cs.LogDuplicated)
		}
		mustData(t, s[0].env, c.env)
	})
}

// Archiving on a master serving an internal init keeps the log the
// client needs after the snapshot (rep's RetainLSN): the init completes
// although the master checkpointed and removed logs while it ran.
func TestDriverArchiveDuringInitKeepsRetainedLog(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		s := startGroup(t, net, 2, testConfig(), func(_ SiteID, c *Config) { c.AckPolicy = rep.AckNone })
		tok := leaveBehind(t, net, s)
		// Hold the init open: the client's page requests are lost.
		net.setFilter(func(from, to transport.ID, m rep.Message) bool { return m.Type == rep.MsgPageReq })
		net.setLink(1, 2, true)
		s[1].waitEvent(t, within, rep.EventInitStarted)
		testwait.For(t, within, "the master serves the init", func() bool { return s[0].stats(t).InitsServed > 0 })
		first := tok.LSN.File
		for i := 0; tok.LSN.File < first+3; i++ {
			tok = repPut(t, s[0].e, fmt.Sprint("m", i), strings.Repeat("w", 1000))
		}
		archive(t, s[0].env)
		net.setFilter(nil)
		s[1].caughtUp(t, within, tok)
		mustData(t, s[0].env, s[1].env)
		if st := s[1].stats(t); st.InitsDone != 1 || st.InitsFailed != 0 {
			t.Fatalf("client inits done %d, failed %d", st.InitsDone, st.InitsFailed)
		}
	})
}
