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
	"runtime"
	"sort"
	"strings"
	"syscall"

	"github.com/gin-gonic/gin"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// command is one subcommand: it parses its own flags from args.
type command struct {
	synopsis string // what follows "parkgrid NAME" in the usage line
	summary  string // one line, in the command list
	about    string // a paragraph for NAME --help
	run      func(ctx context.Context, env *env, args []string) error
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
		"version": {"", "print the version", "Prints the version of this binary and the Go version it was built with.", runVersion},
		"sim": {"[--config sim.yaml] [--speed N]", "serve a simulated car park on Modbus TCP",
			"Serves the meters, charge controllers, contacts and sensors of a simulated car park on Modbus TCP, with an HTTP control API to plug cars and inject faults.", runSim},
		"probe": {"[--addr HOST:PORT | --rtu DEV] --unit N --device KIND [--json]", "read one Modbus device once and print its values",
			"Reads one device once over Modbus TCP or RTU with the register map of its driver and prints the values it reports; exits 1 when the device does not answer or answers out of range.", runProbe},
		"demo": {"[--dir DIR] [--for DURATION]", "run a complete simulated car park",
			"Starts the simulator on Modbus TCP, the edge daemon and central (SQLite, embedded MQTT broker) in one process and prints a live view until interrupted.", runDemo},
		"plan": {"--site site.yaml [flags]", "capacity planning: simulate a day of arrivals against a site",
			"Simulates arrivals against a site file and prints how well the connection serves them.", runPlan},
		"verify": {"(--pubkey KEY | --embedded-key | --session ID [--config central.yaml]) FILE|-", "verify an OCMF record's signature",
			"Checks one OCMF record's signature against a meter key and prints the meter and its readings. Given a receipt PDF, reads the OCMF records from its QR codes, verifies them and checks that the billed energy is end − begin of the signed records (--embedded-key: the key printed on the receipt). Exit status: 0 valid, 1 invalid (the record does not verify), 2 the check could not be made (usage, unreadable file or key, unknown session).", runVerify},
		"keygen": {"--out DIR [--force]", "write an Ed25519 gateway key pair",
			"Writes an Ed25519 gateway key pair (private key mode 0600) and prints the public key (hex) to enrol at central.", runKeygen},
		"edge": {"--config site.yaml [--check]", "run the edge daemon of one car park",
			"Runs the edge daemon of one car park: polls its Modbus devices, keeps it safe and within its limits, forwards signed readings to central and serves the local EMS API. --check validates the site file and exits.", runEdge},
		"token":  {"--file FILE --name NAME [--scopes read,limit,reset]", "make a bearer token for an edge's EMS REST API", "Makes a token, appends its hash, name and scopes to the token file and prints the token once.", runToken},
		"export": {"--auditor --config central.yaml --gateway ID [--from T] [--to T] --out DIR", "export a gateway's signed data for a third party to re-check", "Writes the signed batch bodies, signatures, key history and OCMF snapshots of one gateway with a README and verify.sh that re-check them with openssl alone.", runExport},
		"central": {"--config central.yaml [--check]", "run the central service",
			"Runs the central service: verifies and stores the signed readings of many sites. --check validates the config file and exits.", runCentral},
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
	switch {
	case len(args) == 0:
		usage(e.stderr, cmds)
		return 2
	case args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help":
		if len(args) > 1 { // parkgrid help CMD
			return realMain(ctx, []string{args[1], "--help"}, e)
		}
		usage(e.stdout, cmds)
		return 0
	case args[0] == "-version" || args[0] == "--version" || args[0] == "-v":
		args = []string{"version"}
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
	b.WriteString("\nparkgrid <command> --help shows what a command does and its flags; parkgrid --version the version.\n")
	io.WriteString(w, b.String())
}

func runVersion(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "version")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fs, "takes no arguments")
	}
	_, err := fmt.Fprintf(e.stdout, "parkgrid %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}
