package main

import (
	"context"
	"errors"
)

// Subcommands whose packages are not wired yet. Each moves to its own file
// (cmd_<name>.go) when it is.

var errNotYet = errors.New("not available in this build yet")

func runDemo(context.Context, *env, []string) error { return errNotYet }
