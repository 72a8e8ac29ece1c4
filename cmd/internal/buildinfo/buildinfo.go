// Package buildinfo reads what the Go toolchain stamped into the binary
// (module version, VCS revision, Go version), for --version and the
// logship_build_info metric.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Info is a binary's build identity. Fields the toolchain did not record
// read "unknown" (a test binary, or a build outside a VCS checkout), so a
// metric label is never empty.
type Info struct {
	Version   string // module version: "v1.2.3", "(devel)" for a local build
	Revision  string // VCS revision, with "-dirty" when the tree was modified
	GoVersion string
}

// Read returns the running binary's build identity.
func Read() Info {
	in := Info{Version: "unknown", Revision: "unknown", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return in
	}
	if bi.Main.Version != "" {
		in.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		in.GoVersion = bi.GoVersion
	}
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && in.Revision != "unknown" {
		in.Revision += "-dirty"
	}
	return in
}

// String is the --version line: "repnode (devel) revision abc123 go1.24".
func (in Info) String(program string) string {
	return fmt.Sprintf("%s %s revision %s %s", program, in.Version, in.Revision, in.GoVersion)
}
