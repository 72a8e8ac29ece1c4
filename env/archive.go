package env

import (
	"context"
	"slices"
)

// ArchiveOptions are the choices of an Archive.
type ArchiveOptions struct {
	// DryRun reports what Archive would remove and what it keeps for
	// lagging sites, recording no checkpoint and removing nothing.
	DryRun bool
	// Force also removes the log lagging sites within the budget still
	// need (Config.LogKeepBytes): they are let go and will need an
	// internal init. What recovery and an init this site serves need is
	// kept regardless.
	Force bool
}

// KeptFile is a log file kept only because lagging sites need it.
type KeptFile struct {
	Path  string
	Sites []uint64 // the sites that need it, within the budget
}

// ArchiveInfo describes an Archive.
type ArchiveInfo struct {
	// CheckpointInfo: LSN is the checkpoint taken (with DryRun, the one
	// it would take); KeepFrom where the log is kept from; Removable the
	// files removed, or with DryRun that would be; Removed those removed.
	CheckpointInfo
	// Kept are the files kept only for lagging sites within the budget
	// (Force removes them), oldest first.
	Kept []KeptFile
	// LetGo are the sites within the budget whose log Force removes (or,
	// with DryRun, would).
	LetGo []uint64
	// Keep is the budget and the log kept for each lagging site.
	Keep LogKeep
}

// Archive takes a checkpoint, then removes the log files that recovery,
// an internal init this site serves and the lagging sites within the
// budget no longer need (with Force, those the sites need too), and says
// what it kept for which site. It is the operator's archive: Checkpoint
// followed by RemoveLogs, with a dry run and the reasons.
func (e *Env) Archive(ctx context.Context, opts ArchiveOptions) (ArchiveInfo, error) {
	if err := e.enter(); err != nil {
		return ArchiveInfo{}, err
	}
	defer e.exit()
	e.ctl.Lock()
	defer e.ctl.Unlock()
	applied, end, err := e.catchUp(ctx)
	if err != nil {
		return ArchiveInfo{}, err
	}
	var info ArchiveInfo
	info.LSN = applied
	if !opts.DryRun {
		if info.CheckpointInfo, err = e.checkpointAt(applied, end); err != nil {
			return info, err
		}
	}
	done := info.Removed
	info.Keep = e.LogKeep()
	base := e.initKeepFrom(info.LSN)
	keep := base
	if k := info.Keep.From; !k.IsZero() && k.Less(keep) {
		keep = k
	}
	var siteFiles []string // kept for the sites alone
	if siteFiles, err = e.removableLogs(base); err != nil {
		return info, err
	}
	if opts.Force {
		keep = base
	}
	info.KeepFrom = keep
	if info.Removable, err = e.removableLogs(keep); err != nil {
		return info, err
	}
	for _, path := range siteFiles {
		n, _ := logFileNum(path)
		var sites []uint64
		for _, s := range info.Keep.Sites {
			if !s.LetGo && s.KeepFrom.File <= n {
				sites = append(sites, s.Site)
			}
		}
		if len(sites) == 0 {
			continue
		}
		if opts.Force {
			for _, id := range sites {
				if !slices.Contains(info.LetGo, id) {
					info.LetGo = append(info.LetGo, id)
				}
			}
		} else {
			info.Kept = append(info.Kept, KeptFile{Path: path, Sites: sites})
		}
	}
	slices.Sort(info.LetGo)
	if opts.DryRun {
		return info, nil
	}
	if len(info.LetGo) > 0 {
		e.logger.Warn("env: archive --force removes log that lagging sites within the budget need; they will need an internal init",
			"sites", info.LetGo, "keep_from", keep)
	}
	removed, err := e.removeLogs(keep)
	info.Removed = append(slices.Clip(done), removed...)
	return info, err
}
