// Command repadmin is the operator's tool for a logship replication group.
//
// Subcommands that work on a stopped site's directory:
//
//	repadmin log dump   --dir DIR   print every record: LSN, length, summary
//	repadmin log dump --rollback --dir DIR   records undone in syncs with a new master
//	repadmin log verify --dir DIR   check every record; exit 1 naming the first bad LSN
//
// Subcommands that talk to a running repnode, at its --http address:
//
//	repadmin --node host:port status [--json]   the site and what it knows of the group
//	repadmin --node host:port watch [--interval 1s] [--count N]   status, refreshed
//	repadmin --node host:port stat [--json]     every counter: replication, elections, environment
//	repadmin --node host:port sync [--delay|--no-delay] | elect | transfer --to ID | archive [--dry-run] [--force]
//	repadmin --node host:port sync --wait [--timeout 10m]   sync, then a progress bar until caught up (following a new master)
//	repadmin --node host:port allow-rollback   let a client stopped by --max-rollback-bytes proceed once
//	repadmin --node host:port verify   check the site's data file against its log; on a master, every site's data against its own
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// usageError is a mistake in how repadmin was called: it prints the usage
// and exits 2, where a failure of the operation itself exits 1.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const usage = `usage: repadmin [--node host:port] <command> [flags]

Commands:
  status [--json]         a running site's role, generation, LSNs and its view of the group
  watch [--interval D] [--count N]   the status, redrawn every D (default 1s)
  stat [--json]           every counter: replication, elections, environment
  sync [--delay|--no-delay]  start a delayed client's sync now, or set delayed sync
  sync --wait [--timeout D]  start it, then show progress until the client caught up
                          with its master, following (and syncing with) a new one
  elect                   call an election
  transfer --to SITE      hand mastership to SITE
  priority --set N        change the site's election priority now (0 = never master)
  archive [--dry-run] [--force]
                          checkpoint, then remove log files no longer needed; it keeps
                          what lagging sites within --log-keep-bytes need unless --force;
                          --dry-run lists what it would remove and keep for which site
  allow-rollback          let a client stopped in rollback_refused (--max-rollback-bytes)
                          roll back or discard its log once; the records go to a rollback file
  verify                  read every key of the site's data file and check it against its log;
                          on a master also list the sites whose data differs from its own
  log dump   --dir DIR [--limit N]   print the records of a stopped site's log
  log dump   --dir DIR --rollback   print the records the site rolled back
  log verify --dir DIR              check every record of a stopped site's log

Run "repadmin <command> -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit status, so tests can
// drive every subcommand in-process.
func run(args []string, stdout, stderr io.Writer) int {
	err := dispatch(args, stdout, stderr)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "repadmin: %s\n\n%s", ue.msg, usage)
		return 2
	default:
		fmt.Fprintf(stderr, "repadmin: %v\n", err)
		return 1
	}
}

func dispatch(args []string, stdout, stderr io.Writer) error {
	g := flag.NewFlagSet("repadmin", flag.ContinueOnError)
	g.SetOutput(stderr)
	node := g.String("node", "127.0.0.1:8080", "the repnode's HTTP address (its --http)")
	conn := bindConnFlags(g) // client.go: --token, --tls, --cacert, --cert, --key
	g.Usage = func() {}
	if err := g.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if err := setupConn(conn); err != nil {
		return err
	}
	args = g.Args()
	if len(args) == 0 {
		return usageError{"no command given"}
	}
	switch args[0] {
	case "status":
		return runStatus(*node, args[1:], stdout, stderr)
	case "watch":
		return runWatch(*node, args[1:], stdout, stderr)
	case "stat":
		return runStat(*node, args[1:], stdout, stderr)
	case "sync":
		return runSync(*node, args[1:], stdout, stderr)
	case "elect":
		return runElect(*node, args[1:], stdout, stderr)
	case "transfer":
		return runTransfer(*node, args[1:], stdout, stderr)
	case "priority":
		return runPriority(*node, args[1:], stdout, stderr)
	case "archive":
		return runArchive(*node, args[1:], stdout, stderr)
	case "allow-rollback":
		return runAllowRollback(*node, args[1:], stdout, stderr)
	case "verify":
		return runVerify(*node, args[1:], stdout, stderr)
	case "log":
		return runLog(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}
