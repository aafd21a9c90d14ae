package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ErrInvalid is wrapped by every error Load returns for a file that was read
// but is not a valid site.
var ErrInvalid = errors.New("invalid site config")

// FieldError is one problem in a site file.
type FieldError struct {
	File  string // as given to Load
	Line  int    // 1-based; 0 if unknown
	Field string // path in the file, e.g. buses[0].devices[2].unit
	Msg   string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *FieldError) Unwrap() error { return ErrInvalid }

// Load reads, decodes and validates the site file at path.
func Load(path string) (*Site, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("site config: %w", err)
	}
	return LoadBytes(path, b)
}

// LoadBytes decodes and validates a site file's contents; name is used in
// error messages.
func LoadBytes(name string, b []byte) (*Site, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, yamlError(name, err, nil)
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, &FieldError{File: name, Msg: "empty file"}
	}
	if root.Content[0].Kind != yaml.MappingNode {
		return nil, &FieldError{File: name, Line: root.Content[0].Line, Msg: "the site file must be a mapping (site:, buses:, grid: …)"}
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var s Site
	if err := dec.Decode(&s); err != nil {
		return nil, yamlError(name, err, root.Content[0])
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		return nil, &FieldError{File: name, Line: extra.Line, Msg: "more than one YAML document; a site file holds one"}
	}
	s.Path = name
	lines := map[string]int{}
	nodeLines(root.Content[0], "", lines)
	v := &validator{file: name, lines: lines, site: &s}
	v.run()
	if len(v.errs) > 0 {
		sort.SliceStable(v.errs, func(i, j int) bool { return v.errs[i].Line < v.errs[j].Line })
		errs := make([]error, len(v.errs))
		for i, e := range v.errs {
			errs[i] = e
		}
		return nil, errors.Join(errs...)
	}
	return &s, nil
}

// nodeLines records the line of every value in the document under its path
// (a.b[2].c).
func nodeLines(n *yaml.Node, path string, out map[string]int) {
	if _, seen := out[path]; !seen {
		out[path] = n.Line
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			out[p] = k.Line
			nodeLines(val, p, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			nodeLines(c, path+"["+strconv.Itoa(i)+"]", out)
		}
	case yaml.AliasNode:
		if n.Alias != nil {
			nodeLines(n.Alias, path, out)
		}
	}
}

var (
	yamlLine      = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	unknownField  = regexp.MustCompile(`^field (\S+) not found in type config\.(\w+)$`)
	cannotDecode  = regexp.MustCompile("^cannot unmarshal !!\\w+ `(.*)` into (\\S+)$")
	yamlTypeNames = map[string]string{
		"Site": "the site", "Bus": "a bus", "RTU": "an rtu line", "Device": "a device",
		"Grid": "grid", "Distribution": "a distribution", "Circuit": "a circuit",
		"Temperature": "a temperature block", "Input": "an input", "ChargePoint": "a charge point",
		"Safety": "safety", "EMS": "ems", "EMSMQTT": "ems.mqtt", "EMSREST": "ems.rest", "Control": "control",
		"ServerTLS": "a server tls block", "ClientTLS": "an mqtt tls block", "Uplink": "uplink", "Influx": "influx", "OCPP": "ocpp", "OCPPPoint": "an ocpp charge point",
	}
)

// yamlError turns yaml.v3's errors into FieldErrors that name the file, the
// line and, where root lets us find it, the field.
func yamlError(file string, err error, root *yaml.Node) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	errs := make([]error, 0, len(msgs))
	for _, m := range msgs {
		fe := &FieldError{File: file, Msg: strings.TrimPrefix(m, "yaml: ")}
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			fe.Line, _ = strconv.Atoi(sm[1])
			fe.Msg = sm[2]
		}
		if sm := unknownField.FindStringSubmatch(fe.Msg); sm != nil {
			where := yamlTypeNames[sm[2]]
			if where == "" {
				where = sm[2]
			}
			fe.Msg = fmt.Sprintf("unknown field %q in %s", sm[1], where)
		}
		if sm := cannotDecode.FindStringSubmatch(fe.Msg); sm != nil {
			fe.Field = scalarPath(root, "", fe.Line, sm[1])
			switch sm[2] {
			case "time.Duration":
				fe.Msg = fmt.Sprintf("%q is not a duration (write e.g. 100ms, 1s, 2m)", sm[1])
			case "int":
				fe.Msg = fmt.Sprintf("%q is not a whole number", sm[1])
			}
		}
		errs = append(errs, fe)
	}
	return errors.Join(errs...)
}

// scalarPath finds the path of the scalar with the given value on the given
// line, "" if there is none.
func scalarPath(n *yaml.Node, path string, line int, value string) string {
	if n == nil {
		return ""
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Line == line && n.Value == value {
			return path
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if path != "" {
				p = path + "." + p
			}
			if found := scalarPath(n.Content[i+1], p, line, value); found != "" {
				return found
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if found := scalarPath(c, path+"["+strconv.Itoa(i)+"]", line, value); found != "" {
				return found
			}
		}
	}
	return ""
}
