package rep

import (
	"os/exec"
	"strings"
	"testing"
)

// TestProtocolCoreImportsNoClockIONorStorage enforces design decision 4:
// rep, and every logship package it depends on, imports none of time, os,
// net, sync, math/rand; and nothing of env or bbolt is in its dependency
// graph at all. (Standard-library and msgpack internals may use them.)
func TestProtocolCoreImportsNoClockIONorStorage(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}", "logship/rep").CombinedOutput()
	if err != nil {
		t.Skipf("go list unavailable: %v\n%s", err, out)
	}
	forbidden := map[string]bool{"time": true, "os": true, "net": true, "sync": true, "math/rand": true, "math/rand/v2": true}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, "|")
		if pkg == "logship/env" || strings.HasPrefix(pkg, "logship/env/") || strings.Contains(pkg, "bbolt") || strings.Contains(pkg, "boltdb") {
			t.Errorf("rep depends on %s", pkg)
		}
		if pkg != "logship" && !strings.HasPrefix(pkg, "logship/") {
			continue
		}
		for _, imp := range strings.Fields(imports) {
			if forbidden[imp] {
				t.Errorf("%s imports %s", pkg, imp)
			}
		}
	}
}
