package broker

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// An external broker needs the same rules as the embedded one. For
// Mosquitto 2 they are an acl_file and a password_file (with
// allow_anonymous false); MosquittoACL and MosquittoPasswordLine write
// them. deploy/mosquitto/ holds an example and docs/security.md the steps.
//
// Mosquitto matches a shared subscription ($share/<group>/<filter>) against
// the read rules of <filter>, so any user who may read up/# could join
// central's share group: only central has such a rule.

// GatewaySite is a gateway and its site.
type GatewaySite struct {
	ID   string
	Site string
}

// MosquittoACL writes an acl_file: central's rules for centralUser, each
// gateway's for its site, and each user's.
func MosquittoACL(w io.Writer, centralUser, shareGroup string, gateways []GatewaySite, users []User) error {
	var b strings.Builder
	b.WriteString("# parkgrid: Mosquitto acl_file (central/broker.MosquittoACL). With allow_anonymous false\n")
	b.WriteString("# and a password_file, every client is one of these users and may do only this.\n")
	block := func(comment, user string, r Rules) {
		fmt.Fprintf(&b, "\n# %s\nuser %s\n", comment, user)
		for _, f := range r.Publish {
			fmt.Fprintf(&b, "topic write %s\n", f)
		}
		for _, f := range r.Subscribe {
			if rest, ok := strings.CutPrefix(f, "$share/"); ok {
				_, f, _ = strings.Cut(rest, "/") // Mosquitto checks the filter without $share/<group>/
			}
			fmt.Fprintf(&b, "topic read %s\n", f)
		}
	}
	c := CentralRules(shareGroup)
	c.Subscribe = slices.DeleteFunc(slices.Clone(c.Subscribe), func(f string) bool { return strings.HasPrefix(f, "$share/") })
	block("central: acks and commands to every site, batches and status of every site", centralUser, c)
	gs := slices.Clone(gateways)
	slices.SortFunc(gs, func(a, b GatewaySite) int { return strings.Compare(a.ID, b.ID) })
	for _, g := range gs {
		if strings.ContainsAny(g.ID+g.Site, " \t\n/+#") {
			return fmt.Errorf("mosquitto acl: gateway %q at site %q: ids must not contain spaces, '/', '+' or '#'", g.ID, g.Site)
		}
		block("gateway "+g.ID+" at site "+g.Site, g.ID, GatewayRules(g.Site))
	}
	for _, u := range users {
		block("user "+u.Name, u.Name, u.Rules)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// MosquittoPasswordLine is one password_file line for user with a $7$
// hash (HashPassword or a configured user's hash).
func MosquittoPasswordLine(user, hash string) (string, error) {
	if strings.ContainsAny(user, ":\n") {
		return "", fmt.Errorf("mosquitto password file: user %q must not contain ':' or a newline", user)
	}
	if err := CheckHash(hash); err != nil {
		return "", err
	}
	return user + ":" + hash + "\n", nil
}
