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
//	repadmin --node host:port group [--json]   every site of the group, each asked at its own HTTP address
//	repadmin --node host:port site list|add|remove|promote|demote   the group's membership (site.go)
//
// The global flags --node, --json and --timeout go before or after the
// command; LOGSHIP_NODE sets the default --node.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"logship/cmd/internal/buildinfo"
)

// usageError is a mistake in how repadmin was called: it prints the usage
// and exits 2, where a failure of the operation itself exits 1.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const usage = `usage: repadmin [--node host:port] [--json] [--timeout D] <command> [flags]

Global flags (before or after the command):
  --node host:port        the repnode's HTTP address (its --http); default $LOGSHIP_NODE, else 127.0.0.1:8080
  --json                  print the answer as JSON (every command)
  --timeout D             limit of each request to the node (default 5s); after sync --wait
                          or elect --wait, --timeout bounds the wait instead
  --token T               bearer token for a repnode with --auth-tokens; default $LOGSHIP_TOKEN
  --token-file F          read the token from a file
  --tls, --cacert F       HTTPS to the repnode, trusting the CA in F (default: the system's)
  --cert F --key F        client certificate for a repnode with --http-client-ca
  --version               print repadmin's version and exit

Commands:
  status                  a running site's role, generation, LSNs and its view of the group
  group                   every site of the group, each asked at the HTTP address it advertised
  watch [--interval D] [--count N]   the status, redrawn every D (default 1s); follows the
                          master to another site after a failover
  stat                    every counter: replication, elections, environment
  sync [--delay|--no-delay]  start a delayed client's sync now, or set delayed sync
  sync --wait [--timeout D]  start it, then show progress until the client caught up
                          with its master, following (and syncing with) a new one
  elect [--wait [--timeout D]]  call an election (on the master: says so and does nothing;
                          --force calls one anyway); --wait reports who won, at which generation
  transfer --to SITE      hand mastership to SITE; on failure, says why
  priority --set N        change the site's election priority now (0 = never master)
  archive [--dry-run] [--force]
                          checkpoint, then remove log files no longer needed; it keeps
                          what lagging sites within --log-keep-bytes need unless --force;
                          --dry-run lists what it would remove and keep for which site
  allow-rollback          let a client stopped in rollback_refused (--max-rollback-bytes)
                          roll back or discard its log once; the records go to a rollback file
  verify                  read every key of the site's data file and check it against its log;
                          on a master also list the sites whose data differs from its own
  site list               the members: addresses, voting or not, connected, lag (alias: members)
  site add --id N --addr HOST:PORT [--http HOST:PORT] [--resp HOST:PORT] [--non-voting]
                          add a site; the master promotes it to voting once caught up,
                          unless --non-voting (a read replica)
  site remove --id N      remove a site from the group
  site promote --id N | site demote --id N   make a member voting or non-voting
  log dump   --dir DIR [--limit N]   print the records of a stopped site's log
  log dump   --dir DIR --rollback   print the records the site rolled back
  log verify --dir DIR              check every record of a stopped site's log
  version                 print repadmin's version

Run "repadmin <command> -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errHelp is -h or --help: the usage went to stdout, and the exit is 0.
var errHelp = errors.New("help requested")

// run is main without the process: it returns the exit status, so tests can
// drive every subcommand in-process.
func run(args []string, stdout, stderr io.Writer) int {
	err := dispatch(args, stdout, stderr)
	var ue usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "repadmin: %s\n\n%s", ue.msg, usage)
		return 2
	default:
		fmt.Fprintf(stderr, "repadmin: %v\n", err)
		return 1
	}
}

// globals are the flags every command takes, before or after its name.
type globals struct {
	conn    connFlags // client.go: --token, --tls, --cacert, --cert, --key
	node    string
	json    bool
	timeout time.Duration
	version bool
	stdout  io.Writer
	stderr  io.Writer
}

// defaultNode is --node when neither the flag nor LOGSHIP_NODE is given.
const defaultNode = "127.0.0.1:8080"

// register adds the global flags a command's own flags do not define
// (sync and elect define --timeout: the time to wait).
func (g *globals) register(fs *flag.FlagSet) {
	if fs.Lookup("node") == nil {
		fs.StringVar(&g.node, "node", g.node, "the repnode's HTTP address (its --http); default $LOGSHIP_NODE")
	}
	if fs.Lookup("json") == nil {
		fs.BoolVar(&g.json, "json", g.json, "print the answer as JSON")
	}
	if fs.Lookup("timeout") == nil {
		fs.DurationVar(&g.timeout, "timeout", g.timeout, "limit of each request to the node")
	}
	g.conn.bind(fs)
}

// parse parses a command's flags with the global ones. -h prints the
// command's flags to stdout and returns errHelp.
func (g *globals) parse(fs *flag.FlagSet, args []string) error {
	g.register(fs)
	fs.SetOutput(g.stderr)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(g.stdout, "usage: %s [flags]\n\nFlags:\n", fs.Name())
			fs.SetOutput(g.stdout)
			fs.PrintDefaults()
			return errHelp
		}
		return usageError{err.Error()}
	}
	if g.timeout <= 0 {
		return usageError{fmt.Sprintf("--timeout %v must be > 0", g.timeout)}
	}
	requestTimeout = g.timeout
	return setupConn(&g.conn)
}

func dispatch(args []string, stdout, stderr io.Writer) error {
	g := &globals{node: defaultNode, timeout: defaultRequestTimeout, stdout: stdout, stderr: stderr,
		conn: connFlags{token: os.Getenv("LOGSHIP_TOKEN")}}
	if v := os.Getenv("LOGSHIP_NODE"); v != "" {
		g.node = v
	}
	requestTimeout = defaultRequestTimeout
	top := flag.NewFlagSet("repadmin", flag.ContinueOnError)
	top.BoolVar(&g.version, "version", false, "print repadmin's version and exit")
	top.SetOutput(stderr)
	top.Usage = func() {}
	g.register(top)
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return errHelp
		}
		return usageError{err.Error()}
	}
	args = top.Args()
	if g.version {
		fmt.Fprintln(stdout, buildinfo.Read().String("repadmin"))
		return nil
	}
	if len(args) == 0 {
		return usageError{"no command given"}
	}
	switch args[0] {
	case "status":
		return runStatus(g, args[1:])
	case "group":
		return runGroup(g, args[1:])
	case "watch":
		return runWatch(g, args[1:])
	case "stat":
		return runStat(g, args[1:])
	case "sync":
		return runSync(g, args[1:])
	case "elect":
		return runElect(g, args[1:])
	case "transfer":
		return runTransfer(g, args[1:])
	case "priority":
		return runPriority(g, args[1:])
	case "archive":
		return runArchive(g, args[1:])
	case "allow-rollback":
		return runAllowRollback(g, args[1:])
	case "verify":
		return runVerify(g, args[1:])
	case "log":
		return runLog(g, args[1:])
	case "site":
		return runSite(g, args[1:])
	case "members":
		return runSiteList(g, args[1:])
	case "version":
		if err := noArgs(g, "version", args[1:], nil); err != nil {
			return err
		}
		in := buildinfo.Read()
		if g.json {
			return printJSON(stdout, map[string]string{"version": in.Version, "revision": in.Revision, "goversion": in.GoVersion})
		}
		fmt.Fprintln(stdout, in.String("repadmin"))
		return nil
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}

// printJSON writes v as indented JSON (--json).
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
