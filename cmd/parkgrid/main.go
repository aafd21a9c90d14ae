// Command parkgrid is the one binary of parkgrid: the edge daemon, the central
// service, the car-park simulator and the tools around them. It is the only
// place that wires concrete types together.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/gin-gonic/gin"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// command is one subcommand: it parses its own flags from args.
type command struct {
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// env is what every subcommand gets: where to write and a logger.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
}

func commands() map[string]command {
	return map[string]command{
		"version": {"print the version", runVersion},
		"sim":     {"serve a simulated car park on Modbus TCP", runSim},
		"probe":   {"read one Modbus device once and print its values", runProbe},
		"demo":    {"run a complete simulated car park", runDemo},
		"plan":    {"capacity planning: simulate a day of arrivals against a site", runPlan},
		"verify":  {"verify an OCMF record's signature", runVerify},
		"keygen":  {"write an Ed25519 gateway key pair", runKeygen},
		"edge":    {"run the edge daemon of one car park", runEdge},
		"central": {"run the central service", runCentral},
	}
}

func main() {
	gin.SetMode(gin.ReleaseMode) // process-wide: the EMS API's router is Gin
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := realMain(ctx, os.Args[1:], &env{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()})),
	})
	stop()
	os.Exit(code)
}

func logLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv("PARKGRID_LOG"))); err != nil {
		return slog.LevelInfo
	}
	return l
}

// exitError carries a specific exit code (e.g. verify's "invalid").
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func realMain(ctx context.Context, args []string, e *env) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "parkgrid: unknown command %q\n\n", args[0])
		usage(e.stderr, cmds)
		return 2
	}
	if err := c.run(ctx, e, args[1:]); err != nil {
		if ee, ok := err.(*exitError); ok {
			if ee.msg != "" {
				fmt.Fprintln(e.stderr, ee.msg)
			}
			return ee.code
		}
		fmt.Fprintf(e.stderr, "parkgrid %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: parkgrid <command> [flags]\n\ncommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-8s %s\n", n, cmds[n].summary)
	}
	b.WriteString("\nparkgrid <command> -h shows the command's flags.\n")
	io.WriteString(w, b.String())
}

func runVersion(_ context.Context, e *env, _ []string) error {
	_, err := fmt.Fprintf(e.stdout, "parkgrid %s\n", version)
	return err
}
