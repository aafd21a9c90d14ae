package broker

import (
	"fmt"
	"strings"
)

// Rules are what one identity may do: publish on topics matched by a
// Publish filter, subscribe with filters that a Subscribe filter covers
// (and receive messages on topics it matches). A shared subscription
// ($share/<group>/<filter>) is covered only by a rule that names the
// share group itself, so only central joins central's group.
type Rules struct {
	Publish   []string
	Subscribe []string
}

// CanPublish reports whether topic (no wildcards) may be published.
func (r Rules) CanPublish(topic string) bool {
	if strings.ContainsAny(topic, "+#") {
		return false
	}
	return anyCovers(r.Publish, topic)
}

// CanSubscribe reports whether filter (which may hold wildcards, or be a
// shared subscription) may be subscribed, and a concrete topic received.
func (r Rules) CanSubscribe(filter string) bool { return anyCovers(r.Subscribe, filter) }

func anyCovers(patterns []string, filter string) bool {
	f := strings.Split(filter, "/")
	for _, p := range patterns {
		if Covers(strings.Split(p, "/"), f) {
			return true
		}
	}
	return false
}

// Covers reports whether every topic the filter f matches is matched by the
// pattern p too (both split at '/'). A filter is covered level by level: a
// '#' in p covers the rest; a '+' in p covers one level of f that is not
// '#'; a literal covers only itself. "a/#" also covers "a" (MQTT 4.7.1.2).
// Topics starting with '$' ($SYS, $share) are matched literally at their
// first level, as MQTT requires of wildcards.
func Covers(p, f []string) bool {
	for i := range f {
		if i >= len(p) {
			return false
		}
		switch {
		case p[i] == "#":
			return i > 0 || !strings.HasPrefix(f[0], "$")
		case f[i] == "#":
			return false // f matches more levels than p can
		case p[i] == "+":
			if i == 0 && strings.HasPrefix(f[0], "$") {
				return false
			}
			continue
		case f[i] == "+":
			return false
		case p[i] != f[i]:
			return false
		}
	}
	return len(p) == len(f) || (len(p) == len(f)+1 && p[len(f)] == "#")
}

// Topic roots of the edge ↔ central contract (edge/reading).
const topicRoot = "parkgrid/v1/"

// CentralRules are central's: it publishes acks and commands to every
// site, joins its share group for the batches and reads the sites'
// status.
func CentralRules(shareGroup string) Rules {
	return Rules{
		Publish: []string{topicRoot + "+/down/#"},
		Subscribe: []string{
			"$share/" + shareGroup + "/" + topicRoot + "+/up/#",
			topicRoot + "+/up/#",
			topicRoot + "+/status",
		},
	}
}

// GatewayRules are a gateway's at its site: it publishes batches,
// replies and its status, and (when an edge uses central's broker for its
// EMS API, as the demo does) the EMS topics the edge publishes (not the
// limit commands: those are the EMS's); it reads what central sends it and
// its EMS limit commands. Nothing of another site.
func GatewayRules(site string) Rules {
	s := topicRoot + site
	ems := s + "/ems"
	return Rules{
		Publish: []string{s + "/up/#", s + "/status",
			ems + "/status", ems + "/state", ems + "/alarms", ems + "/point/+/state", ems + "/limit/reply"},
		Subscribe: []string{s + "/down/#", ems + "/limit/set"},
	}
}

// CheckFilter refuses a rule filter that is not a valid MQTT filter or
// reaches beyond parkgrid's topics for everyone ('#' alone).
func CheckFilter(f string) error {
	if f == "" || f == "#" || strings.HasPrefix(f, "#") {
		return fmt.Errorf("filter %q: too wide (a rule names parkgrid topics, e.g. parkgrid/v1/<site>/ems/#)", f)
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("filter %q: '#' only as the whole last level", f)
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("filter %q: '+' only as a whole level", f)
		}
	}
	return nil
}
