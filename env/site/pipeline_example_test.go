package site_test

import (
	"context"
	"fmt"
	"os"
	"sync"

	"logship/env"
	"logship/env/site"
	"logship/rep/transport/memnet"
)

// Writes that must take effect in order, without waiting for each
// other's fsyncs and acks (a pipeline): Append each in order, then Wait
// for all of them concurrently, so they share group commits.
func ExampleSite_Append() {
	dir, err := os.MkdirTemp("", "site-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	e, err := env.Open(dir, env.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()
	cfg := site.DefaultConfig()
	cfg.ID = 1
	cfg.Transport = memnet.New(memnet.Config{}).Endpoint(1)
	s, err := site.Start(e, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	if err := s.StartMaster(1); err != nil {
		fmt.Println(err)
		return
	}

	ctx := context.Background()
	var pending []*site.Pending
	for _, v := range []string{"first", "second", "third"} {
		p, err := s.Append(ctx, func(tx *env.Tx) error { return tx.Put("b", []byte("k"), []byte(v)) })
		if err != nil {
			fmt.Println(err)
			return
		}
		pending = append(pending, p)
	}
	toks := make([]env.Token, len(pending))
	var wg sync.WaitGroup
	for i, p := range pending {
		wg.Go(func() {
			tok, err := p.Wait(ctx)
			if err != nil {
				fmt.Println(err)
			}
			toks[i] = tok
		})
	}
	wg.Wait()
	fmt.Println("in log order:", toks[0].LSN.Less(toks[1].LSN) && toks[1].LSN.Less(toks[2].LSN))
	fmt.Println("permanent:", toks[0].Permanent && toks[1].Permanent && toks[2].Permanent)
	_ = s.View(func(rt *env.ReadTx) error {
		v, err := rt.Get("b", []byte("k"))
		fmt.Printf("k: %s\n", v)
		return err
	})
	// Output:
	// in log order: true
	// permanent: true
	// k: third
}
