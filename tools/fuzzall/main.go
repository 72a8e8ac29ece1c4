// Command fuzzall runs every fuzz target in the module for a fixed time
// each (`go test -fuzz` accepts one target per run). `make fuzz` runs it;
// new inputs that fail land in each package's testdata/fuzz.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

func main() {
	fuzztime := flag.String("fuzztime", "30s", "time per fuzz target")
	match := flag.String("run", "", "only targets whose name contains this")
	flag.Parse()

	targets, err := list()
	if err != nil {
		fmt.Fprintf(os.Stderr, "fuzzall: %v\n", err)
		os.Exit(2)
	}
	failed := 0
	for _, t := range targets {
		if *match != "" && !strings.Contains(t.name, *match) {
			continue
		}
		fmt.Printf("== %s %s (%s)\n", t.pkg, t.name, *fuzztime)
		cmd := exec.Command("go", "test", "-run", "^$", "-fuzz", "^"+t.name+"$", "-fuzztime", *fuzztime, t.pkg)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			failed++
		}
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "fuzzall: %d target(s) failed\n", failed)
		os.Exit(1)
	}
}

type target struct{ pkg, name string }

// list asks go test for the fuzz targets of every package: it prints the
// names, then "ok <package> ..." for each package.
func list() ([]target, error) {
	out, err := exec.Command("go", "test", "-list", "^Fuzz", "./...").Output()
	if err != nil {
		return nil, fmt.Errorf("go test -list: %w", err)
	}
	var targets []target
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Fuzz"):
			names = append(names, line)
		case strings.HasPrefix(line, "ok "):
			fields := strings.Fields(line)
			for _, n := range names {
				targets = append(targets, target{pkg: fields[1], name: n})
			}
			names = nil
		}
	}
	return targets, sc.Err()
}
