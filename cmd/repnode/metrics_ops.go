package main

// Metrics for operating a site: the build it runs, the disk its
// directory takes and the free space left, and each site's apply lag in
// seconds (the master's view, like pg_stat_replication's replay_lag).

import (
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"logship/cmd/internal/buildinfo"
)

var (
	dBuild     = desc("build_info", "1, labelled with the repnode build: module version, VCS revision, Go version.", "version", "revision", "goversion")
	dDisk      = desc("disk_bytes", "Bytes of the site's directory (--dir) by part: log (log/), data (data.db), other (elect.db, snapshots, rollback files).", "part")
	dDiskFree  = desc("disk_free_bytes", "Bytes free to repnode on the file system holding --dir: at 0 the log cannot grow and the site's storage fails.")
	dSiteApply = desc("site_apply_lag_seconds", "Master: age of the oldest record the site has not applied (its readers do not see yet); 0 when it applied the newest record, -1 when it does not report what it applied.", "site")

	// opsDescs are this file's metrics, for Describe.
	opsDescs = []*prometheus.Desc{dBuild, dDisk, dDiskFree, dSiteApply}

	build = buildinfo.Read()
)

// collectOperations exports the build, disk and apply-lag metrics.
func collectOperations(n *node, gauge func(*prometheus.Desc, float64, ...string)) {
	gauge(dBuild, 1, build.Version, build.Revision, build.GoVersion)
	parts := diskUsage(n.cfg.Dir)
	for _, p := range []string{"log", "data", "other"} {
		gauge(dDisk, float64(parts[p]), p)
	}
	var sfs syscall.Statfs_t
	if syscall.Statfs(n.cfg.Dir, &sfs) == nil {
		gauge(dDiskFree, float64(sfs.Bavail)*float64(sfs.Bsize))
	}
	if n.site == nil {
		return
	}
	st := n.site.Status()
	if st.Role.String() != "master" {
		return
	}
	for _, s := range st.Sites {
		if s.Witness {
			continue
		}
		gauge(dSiteApply, etaSeconds(s.ApplyLagTime), strconv.FormatUint(uint64(s.ID), 10))
	}
}

// diskUsage sums the sizes of the files under dir by part. Files that
// vanish during the walk (a log file removed by a checkpoint) are
// skipped.
func diskUsage(dir string) map[string]int64 {
	parts := map[string]int64{}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		part := "other"
		switch {
		case rel == "data.db":
			part = "data"
		case strings.HasPrefix(rel, "log"+string(filepath.Separator)):
			part = "log"
		}
		parts[part] += info.Size()
		return nil
	})
	return parts
}
