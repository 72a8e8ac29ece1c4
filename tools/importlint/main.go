// Command importlint checks the import rules of the design brief: the
// protocol core (rep, elect) stays a pure state machine, the log and its
// value types stay at the bottom of the graph, and the commands reach the
// system only through env.
//
// It runs `go list -json` over the module and exits 1 listing every broken
// rule. `make lint` (part of `make test`) runs it.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
)

const module = "logship"

// rule forbids packages matching Pkg from importing what Forbid names.
// Direct rules look at the package's own imports (a dependency of msgpack may
// use sync; rep itself may not); transitive rules look at every dependency.
type rule struct {
	Pkg        func(string) bool
	Forbid     []string // import paths; a trailing "/..." matches the subtree
	Transitive bool
	Why        string
}

func exactly(p string) func(string) bool { return func(s string) bool { return s == p } }
func under(p string) func(string) bool {
	return func(s string) bool { return s == p || strings.HasPrefix(s, p+"/") }
}

var pureCore = []string{"time", "os", "net", "sync", "sync/atomic", "math/rand", "math/rand/v2", "crypto/rand", "os/exec", "syscall"}

var rules = []rule{
	{exactly(module + "/rep"), pureCore, false, "rep is a pure state machine: time enters as ticks, I/O through the driver"},
	{exactly(module + "/elect"), pureCore, false, "elect is pure logic: time enters as ticks, randomness is injected"},
	{exactly(module + "/internal/sitecore"), pureCore, false, "the site core joins two pure packages and is pure like them: the runtime and the simulator drive it"},
	{exactly(module + "/internal/sitecore"), []string{module + "/env/...", "go.etcd.io/bbolt"}, true, "the site core reads the log through rep's interface"},
	{exactly(module + "/env"), []string{module + "/env/site", module + "/internal/sitecore", module + "/elect"}, true, "env is the embedded store; the replication runtime (env/site) sits above it"},
	{exactly(module + "/rep"), []string{module + "/env", "go.etcd.io/bbolt"}, true, "rep reads storage through an interface it declares"},
	{exactly(module + "/elect"), []string{module + "/env", "go.etcd.io/bbolt"}, true, "elect reads storage through an interface it declares"},
	{exactly(module + "/wal/lsn"), []string{module + "/..."}, true, "lsn is a leaf value type"},
	{exactly(module + "/wal/vfs"), []string{module + "/..."}, true, "vfs is a leaf interface"},
	{under(module + "/wal"), []string{module + "/rep/...", module + "/elect/...", module + "/env/..."}, true, "the log sits below replication and the store"},
	{under(module + "/rep/transport"), []string{module + "/env/..."}, true, "the transport does not know the store"},
	{under(module + "/cmd"), []string{module + "/rep", module + "/elect", module + "/rep/sim/..."}, false, "commands use env and the HTTP types, not protocol internals"},
	{func(s string) bool {
		return !strings.HasPrefix(s, module+"/tools/") && !strings.HasPrefix(s, module+"/rep/sim")
	}, []string{module + "/rep/sim/..."}, false, "the simulator is imported only by tests and tools"},
	{func(s string) bool { return !strings.HasPrefix(s, module+"/tools/") }, []string{module + "/tools/..."}, false, "nothing imports tools"},
}

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func main() {
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "importlint: go list: %v\n", err)
		os.Exit(2)
	}
	pkgs, err := decode(out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "importlint: %v\n", err)
		os.Exit(2)
	}
	bad := check(pkgs)
	for _, b := range bad {
		fmt.Println(b)
	}
	if len(bad) > 0 {
		os.Exit(1)
	}
}

func decode(b []byte) ([]pkg, error) {
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			return pkgs, nil
		} else if err != nil {
			return nil, fmt.Errorf("decode go list output: %w", err)
		}
		pkgs = append(pkgs, p)
	}
}

func matches(path, pattern string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

// check returns one line per broken rule, sorted.
func check(pkgs []pkg) []string {
	var bad []string
	for _, p := range pkgs {
		for _, r := range rules {
			if !r.Pkg(p.ImportPath) {
				continue
			}
			list := p.Imports
			if r.Transitive {
				list = p.Deps
			}
			for _, imp := range list {
				for _, f := range r.Forbid {
					if matches(imp, f) && imp != p.ImportPath {
						bad = append(bad, fmt.Sprintf("%s imports %s: %s", p.ImportPath, imp, r.Why))
					}
				}
			}
		}
	}
	sort.Strings(bad)
	return bad
}
