package lsn_test

import (
	"fmt"

	"logship/wal/lsn"
)

func ExampleParse() {
	l, err := lsn.Parse("3/4096")
	if err != nil {
		panic(err)
	}
	fmt.Println(l.File, l.Offset, l.Less(lsn.New(4, 0)))
	// Output: 3 4096 true
}
