package site_test

import (
	"context"
	"fmt"
	"os"

	"logship/env"
	"logship/env/site"
	"logship/rep/transport/memnet"
)

// A site alone, appointed master (Berkeley DB's rep_start): its writes
// are permanent at once, since no other site has to acknowledge them. A
// group gives each site the others in Config.Sites and a TCP transport
// (rep/transport), and usually Election.On instead of StartMaster.
func ExampleStart() {
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
	defer s.Close() // before the environment
	if err := s.StartMaster(1); err != nil {
		fmt.Println(err)
		return
	}

	tok, err := s.Update(context.Background(), func(tx *env.Tx) error {
		return tx.Put("users", []byte("alice"), []byte("admin"))
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("permanent:", tok.Permanent)
	_ = s.View(func(rt *env.ReadTx) error {
		v, err := rt.Get("users", []byte("alice"))
		fmt.Printf("alice: %s\n", v)
		return err
	})
	// Output:
	// permanent: true
	// alice: admin
}
