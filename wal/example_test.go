package wal_test

import (
	"fmt"
	"log"
	"os"

	"logship/wal"
)

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	l, err := wal.Open(dir, wal.DefaultOptions())
	if err != nil {
		log.Fatal(err)
	}
	// AppendSync returns once the record is durable; concurrent callers
	// share fsyncs.
	first, err := l.AppendSync([]byte("hello"))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := l.AppendSync([]byte("world")); err != nil {
		log.Fatal(err)
	}
	fmt.Println("first record at", first, "end at", l.End())

	r, err := l.NewReader(first)
	if err != nil {
		log.Fatal(err)
	}
	for {
		rec, err := r.Next()
		if err != nil { // io.EOF at the end of the log
			break
		}
		fmt.Printf("%s %s\n", rec.LSN, rec.Payload)
	}
	if err := l.Close(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// first record at 1/32 end at 1/66
	// 1/32 hello
	// 1/49 world
}
