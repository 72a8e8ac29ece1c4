package env_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"logship/env"
)

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "logship-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	cfg := env.DefaultConfig()
	cfg.LogFileSize = 1 << 20 // 1 MiB log files
	cfg.MaxValueSize = 64 << 10
	e, err := env.Open(dir, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	fmt.Println("applied:", e.Stats().AppliedLSN)
	// Output: applied: 0/0
}

func ExampleEnv_Update() {
	dir, _ := os.MkdirTemp("", "logship-example")
	defer os.RemoveAll(dir)
	e, err := env.Open(dir, env.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()

	ctx := context.Background()
	// A transfer between two accounts: both writes or neither.
	_, err = e.Update(ctx, func(tx *env.Tx) error {
		if err := tx.Put("accounts", []byte("alice"), []byte("70")); err != nil {
			return err
		}
		return tx.Put("accounts", []byte("bob"), []byte("30"))
	})
	if err != nil {
		log.Fatal(err)
	}
	// Reads inside Update see every earlier commit, applied or not.
	_, err = e.Update(ctx, func(tx *env.Tx) error {
		return tx.Scan("accounts", env.Range{}, func(k, v []byte) error {
			fmt.Printf("%s=%s\n", k, v)
			return nil
		})
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// alice=70
	// bob=30
}

func ExampleEnv_View() {
	dir, _ := os.MkdirTemp("", "logship-example")
	defer os.RemoveAll(dir)
	e, err := env.Open(dir, env.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()

	ctx := context.Background()
	tok, err := e.Update(ctx, func(tx *env.Tx) error {
		for _, k := range []string{"user/1", "user/2", "group/1"} {
			if err := tx.Put("ids", []byte(k), []byte("x")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := e.WaitApplied(ctx, tok); err != nil {
		log.Fatal(err)
	}
	// View reads a consistent snapshot of the applied data.
	err = e.View(func(rt *env.ReadTx) error {
		return rt.Scan("ids", env.Range{Prefix: []byte("user/")}, func(k, v []byte) error {
			fmt.Println(string(k))
			return nil
		})
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// user/1
	// user/2
}

func ExampleEnv_WaitApplied() {
	dir, _ := os.MkdirTemp("", "logship-example")
	defer os.RemoveAll(dir)
	e, err := env.Open(dir, env.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()

	ctx := context.Background()
	tok, err := e.Update(ctx, func(tx *env.Tx) error {
		return tx.Put("config", []byte("mode"), []byte("fast"))
	})
	if err != nil {
		log.Fatal(err)
	}
	// The commit is durable now, and View sees it at once; ViewApplied
	// (no writer mutex, for long scans) sees it once the applier has
	// applied it, which WaitApplied waits for.
	if err := e.WaitApplied(ctx, tok); err != nil {
		log.Fatal(err)
	}
	_ = e.ViewApplied(func(rt *env.ReadTx) error {
		v, err := rt.Get("config", []byte("mode"))
		fmt.Printf("mode=%s visible=%v\n", v, !rt.AppliedLSN().Less(tok.LSN))
		return err
	})
	// Output: mode=fast visible=true
}
