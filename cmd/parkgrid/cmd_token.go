package main

import (
	"context"
	"fmt"

	"github.com/parkgrid/parkgrid/central/api"
	"github.com/parkgrid/parkgrid/central/catalog"
	"github.com/parkgrid/parkgrid/edge/emsapi/token"
)

// runToken is `parkgrid token --file FILE --name NAME --scopes read,limit`:
// it makes a bearer token for the edge's REST API, appends its hash, name
// and scopes to the token file (made 0600 if new) and prints the token
// once; it is not stored anywhere. With --operator ID it makes an
// operator token for central's REST API instead: the token on stdout, and
// on stderr the line for central's api.tokens (its hash, never the token).
func runToken(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "token")
	file := fs.String("file", "", "token file (the site file's ems.rest.tokens)")
	name := fs.String("name", "", "who uses the token, e.g. ems-main or fire-brigade; audit logs record it")
	scopes := fs.String("scopes", "read", "comma-separated: read (GET), limit (POST /limit), reset (POST /alarms/reset)")
	operator := fs.String("operator", "", "make an operator token for central's REST API instead (no --file)")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if *operator != "" {
		if *file != "" || *name == "" || fs.NArg() > 0 || catalog.CheckID(*name) != nil || catalog.CheckID(*operator) != nil {
			return usageError(fs, "--operator ID --name NAME (letters, digits, '-', '_', '.'); no --file")
		}
		secret, hash, err := catalog.NewSecret(api.OperatorTokenPrefix)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "Add to central's config under api.tokens (it keeps the hash only); this is the only time the token is shown.\n"+
			"  - {id: %s, operator: %s, name: %s, hash: %s}\nUse it as: Authorization: Bearer <token>\n", *name, *operator, *name, hash)
		_, err = fmt.Fprintln(e.stdout, secret)
		return err
	}
	if *file == "" || *name == "" || fs.NArg() > 0 {
		return usageError(fs, "--file and --name are required and it takes no other arguments")
	}
	sc, err := token.ParseScopes(*scopes)
	if err != nil {
		return usageError(fs, "--scopes: "+err.Error())
	}
	if err := token.CheckName(*name); err != nil {
		return usageError(fs, "--name: "+err.Error())
	}
	secret, hash, err := token.New(nil)
	if err != nil {
		return err
	}
	if err := token.Append(*file, token.Entry{Name: *name, Scopes: sc, Hash: hash}); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "added token %q with scopes %s to %s (the edge reads it within a second).\n"+
		"This is the only time the token is shown; the file keeps its hash. Use it as: Authorization: Bearer <token>\n", *name, *scopes, *file)
	_, err = fmt.Fprintln(e.stdout, secret)
	return err
}
