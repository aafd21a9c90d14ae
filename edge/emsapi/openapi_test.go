package emsapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/parkgrid/parkgrid/edge/emsapi"
)

// openAPIDoc is the part of an OpenAPI 3 document the tests read.
type openAPIDoc struct {
	Paths      map[string]map[string]operation `json:"paths"`
	Components struct {
		Schemas   map[string]jsonSchema `json:"schemas"`
		Responses map[string]response   `json:"responses"`
	} `json:"components"`
}

type operation struct {
	Parameters []struct {
		Name    string `json:"name"`
		In      string `json:"in"`
		Example any    `json:"example"`
	} `json:"parameters"`
	RequestBody *struct {
		Content map[string]mediaType `json:"content"`
	} `json:"requestBody"`
	Responses map[string]response    `json:"responses"`
	Security  *[]map[string][]string `json:"security"`
	Scope     string                 `json:"x-parkgrid-scope"` // the token scope the operation needs; "" for public ones
}

type response struct {
	Ref     string               `json:"$ref"`
	Content map[string]mediaType `json:"content"`
}

type mediaType struct {
	Schema  jsonSchema `json:"schema"`
	Example any        `json:"example"`
}

// jsonSchema is the subset of JSON Schema the document uses; check
// rejects a schema with any other keyword so the checker cannot silently
// ignore a rule.
type jsonSchema map[string]any

func loadOpenAPI(t *testing.T) *openAPIDoc {
	t.Helper()
	var d openAPIDoc
	if err := json.Unmarshal(emsapi.OpenAPI(), &d); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return &d
}

// ginPath turns /points/{id} into Gin's /points/:id.
func ginPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			segs[i] = ":" + s[1:len(s)-1]
		}
	}
	return strings.Join(segs, "/")
}

// resolve follows a response $ref.
func (d *openAPIDoc) resolve(t *testing.T, r response) response {
	t.Helper()
	if r.Ref == "" {
		return r
	}
	name, ok := strings.CutPrefix(r.Ref, "#/components/responses/")
	res, found := d.Components.Responses[name]
	if !ok || !found {
		t.Fatalf("unresolvable response $ref %q", r.Ref)
	}
	return res
}

var knownKeywords = map[string]bool{
	"$ref": true, "type": true, "required": true, "properties": true, "additionalProperties": true,
	"items": true, "enum": true, "minItems": true, "maxItems": true, "minimum": true,
	"minLength": true, "maxLength": true, "format": true, "description": true,
}

// check validates v (decoded JSON) against s and returns every violation.
func (d *openAPIDoc) check(where string, s jsonSchema, v any) []string {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, where+": "+fmt.Sprintf(format, args...)) }
	for k := range s {
		if !knownKeywords[k] {
			fail("schema keyword %q unknown to the checker", k)
		}
	}
	if ref, ok := s["$ref"].(string); ok {
		name, _ := strings.CutPrefix(ref, "#/components/schemas/")
		target, found := d.Components.Schemas[name]
		if !found {
			return append(errs, where+": unresolvable $ref "+ref)
		}
		return append(errs, d.check(where, target, v)...)
	}
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, v) {
		fail("%v not in %v", v, enum)
	}
	switch typ, _ := s["type"].(string); typ {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			fail("want object, got %T", v)
			break
		}
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := obj[r.(string)]; !ok {
				fail("required property %q missing", r)
			}
		}
		props, _ := s["properties"].(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if ap, set := s["additionalProperties"].(bool); set && !ap {
					fail("property %q not in the schema", k)
				}
				continue
			}
			errs = append(errs, d.check(where+"."+k, ps, obj[k])...)
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			fail("want array, got %T", v)
			break
		}
		if n, ok := s["minItems"].(float64); ok && float64(len(arr)) < n {
			fail("%d items, want at least %g", len(arr), n)
		}
		if n, ok := s["maxItems"].(float64); ok && float64(len(arr)) > n {
			fail("%d items, want at most %g", len(arr), n)
		}
		if items, ok := s["items"].(map[string]any); ok {
			for i, e := range arr {
				errs = append(errs, d.check(where+"["+strconv.Itoa(i)+"]", items, e)...)
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			fail("want string, got %T", v)
			break
		}
		if n, ok := s["minLength"].(float64); ok && float64(len(str)) < n {
			fail("%q shorter than %g", str, n)
		}
		if n, ok := s["maxLength"].(float64); ok && float64(len(str)) > n {
			fail("%q longer than %g", str, n)
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				fail("%q is not a date-time: %v", str, err)
			}
		}
	case "integer", "number":
		n, ok := v.(float64)
		if !ok {
			fail("want %s, got %T", typ, v)
			break
		}
		if typ == "integer" && n != float64(int64(n)) {
			fail("want integer, got %g", n)
		}
		if min, ok := s["minimum"].(float64); ok && n < min {
			fail("%g below minimum %g", n, min)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			fail("want boolean, got %T", v)
		}
	case "":
	default:
		fail("schema type %q unknown to the checker", typ)
	}
	return errs
}

func TestOpenAPIListsEveryRouteAndNoOther(t *testing.T) {
	d := loadOpenAPI(t)
	r := newFixture(t, nil).h.(*gin.Engine)

	inRouter := map[string]bool{}
	for _, ri := range r.Routes() {
		inRouter[ri.Method+" "+ri.Path] = true
	}
	inDoc := map[string]bool{}
	for p, ops := range d.Paths {
		for m := range ops {
			inDoc[strings.ToUpper(m)+" "+ginPath(p)] = true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(inRouter)) {
		if !inDoc[k] {
			t.Errorf("route %s is served but not in openapi.json", k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(inDoc)) {
		if !inRouter[k] {
			t.Errorf("openapi.json lists %s, which the router does not serve", k)
		}
	}
	if len(inRouter) == 0 {
		t.Fatal("the router has no routes")
	}
}

func TestOpenAPIExamplesMatchSchemas(t *testing.T) {
	d := loadOpenAPI(t)
	n := 0
	checkMedia := func(where string, content map[string]mediaType) {
		for ct, mt := range content {
			if ct != "application/json" {
				t.Errorf("%s: content type %s; the API speaks application/json only", where, ct)
			}
			if mt.Example == nil {
				continue
			}
			n++
			for _, e := range d.check(where, mt.Schema, mt.Example) {
				t.Error(e)
			}
		}
	}
	for p, ops := range d.Paths {
		for m, op := range ops {
			where := strings.ToUpper(m) + " " + p
			if _, ok := op.Responses["200"]; !ok {
				t.Errorf("%s: no 200 response", where)
			}
			if op.RequestBody != nil {
				checkMedia(where+" request", op.RequestBody.Content)
			}
			for code, resp := range op.Responses {
				checkMedia(where+" "+code, d.resolve(t, resp).Content)
			}
		}
	}
	for name, resp := range d.Components.Responses {
		checkMedia("components.responses."+name, resp.Content)
	}
	if n < 10 {
		t.Errorf("only %d examples checked; the document lost its examples", n)
	}
}

// TestOpenAPIDescribesWhatHandlersSend calls every operation of the
// document on the real router and checks the status is documented and the
// body matches the documented schema, for successes and errors alike.
func TestOpenAPIDescribesWhatHandlersSend(t *testing.T) {
	d := loadOpenAPI(t)
	type call struct {
		method, path, body string
		setup              func(*fixture)
		want               int
		auth               bool              // the router authenticates (tokens of authFixture)
		headers            map[string]string // extra request headers
	}
	calls := []call{
		{method: "GET", path: "/api/v1/points/cp-99", want: 404},
		{method: "POST", path: "/api/v1/limit", body: `{"requestId":"r","maxCurrentA":[1],"ttlS":5}`, want: 400},
		{method: "POST", path: "/api/v1/limit", body: `{"requestId":"r","maxPowerW":1,"ttlS":5}`, want: 409, setup: func(f *fixture) {
			f.ctrl.SetLimitFn = func(context.Context, emsapi.LimitRequest, time.Time) (emsapi.Limit, error) {
				return emsapi.Limit{}, emsapi.ErrConflict
			}
		}},
		{method: "POST", path: "/api/v1/limit", body: `{"requestId":"r","maxPowerW":1,"ttlS":5}`, want: 503, setup: func(f *fixture) {
			f.ctrl.SetLimitFn = func(context.Context, emsapi.LimitRequest, time.Time) (emsapi.Limit, error) {
				return emsapi.Limit{}, context.DeadlineExceeded
			}
		}},
		{method: "POST", path: "/api/v1/alarms/reset", body: `{}`, want: 400},
		{method: "POST", path: "/api/v1/alarms/reset", body: `{"who":"a","why":"b"}`, want: 409, setup: func(f *fixture) {
			f.ctrl.ResetAlarmFn = func(context.Context, string, string, time.Time) error { return emsapi.ErrConflict }
		}},
	}
	// One successful call per operation, built from the document's examples.
	for p, ops := range d.Paths {
		for m, op := range ops {
			path := p
			for _, prm := range op.Parameters {
				if prm.In == "path" {
					path = strings.ReplaceAll(path, "{"+prm.Name+"}", fmt.Sprint(prm.Example))
				}
			}
			c := call{method: strings.ToUpper(m), path: path, want: 200}
			if op.RequestBody != nil {
				b, err := json.Marshal(op.RequestBody.Content["application/json"].Example)
				if err != nil {
					t.Fatal(err)
				}
				c.body = string(b)
			}
			calls = append(calls, c)
			// The same with a token that has the scope, without a token, with
			// one that lacks the scope, and with the wrong content type.
			if op.Scope != "" {
				with, without := c, c
				with.auth, with.headers = true, bearer(tokenWith(op.Scope))
				without.auth, without.headers, without.want = true, bearer(tokenWithout(op.Scope)), 403
				none := c
				none.auth, none.want = true, 401
				calls = append(calls, with, without, none)
			}
			if c.body != "" {
				plain := c
				plain.headers, plain.want = map[string]string{"Content-Type": "text/plain"}, 415
				calls = append(calls, plain)
			}
		}
	}
	// The 404 of GET /config is documented too.
	calls = append(calls, call{method: "GET", path: "/api/v1/config", want: 404, setup: func(f *fixture) {
		f.h, _ = emsapi.NewRouter(emsapi.Options{Source: f.src, Controller: f.ctrl})
	}})

	covered := map[string]bool{}
	for _, c := range calls {
		var f *fixture
		if c.auth {
			f = authFixture(t)
		} else {
			f = newFixture(t, nil)
		}
		if c.setup != nil {
			c.setup(f)
		}
		code, body := f.doHeaders(t, c.method, c.path, c.body, c.headers)
		where := fmt.Sprintf("%s %s → %d", c.method, c.path, code)
		if code != c.want {
			t.Errorf("%s, want %d: %s", where, c.want, body)
			continue
		}
		tmpl, op, ok := findOperation(d, c.method, c.path)
		if !ok {
			t.Errorf("%s: no operation in the document", where)
			continue
		}
		resp, ok := op.Responses[strconv.Itoa(code)]
		if !ok {
			t.Errorf("%s: status not documented", where)
			continue
		}
		mt, ok := d.resolve(t, resp).Content["application/json"]
		if !ok {
			t.Errorf("%s: no application/json content documented", where)
			continue
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Errorf("%s: body is not JSON: %v", where, err)
			continue
		}
		for _, e := range d.check(where, mt.Schema, v) {
			t.Error(e)
		}
		covered[c.method+" "+tmpl+" "+strconv.Itoa(code)] = true
	}
	// Every documented response code of every operation was produced.
	for p, ops := range d.Paths {
		for m, op := range ops {
			for code := range op.Responses {
				if !covered[strings.ToUpper(m)+" "+p+" "+code] {
					t.Errorf("%s %s: documented response %s never produced by the test", strings.ToUpper(m), p, code)
				}
			}
		}
	}
}

// findOperation matches a concrete path to a document path template.
func findOperation(d *openAPIDoc, method, path string) (string, operation, bool) {
	got := strings.Split(path, "/")
	for p, ops := range d.Paths {
		tmpl := strings.Split(p, "/")
		if len(tmpl) != len(got) {
			continue
		}
		match := true
		for i := range tmpl {
			if !strings.HasPrefix(tmpl[i], "{") && tmpl[i] != got[i] {
				match = false
				break
			}
		}
		if op, ok := ops[strings.ToLower(method)]; match && ok {
			return p, op, true
		}
	}
	return "", operation{}, false
}

// TestSchemaCheckerCatches keeps the checker honest.
func TestSchemaCheckerCatches(t *testing.T) {
	d := loadOpenAPI(t)
	ref := jsonSchema{"$ref": "#/components/schemas/PointState"}
	good := map[string]any{"id": "cp", "at": "2026-11-24T10:00:00Z", "state": "A", "currentMA": []any{0.0, 0.0, 0.0}, "setpointMA": 0.0, "powerW": 0.0, "energyWh": 0.0, "stale": false}
	if errs := d.check("good", ref, good); len(errs) != 0 {
		t.Fatalf("good point rejected: %v", errs)
	}
	for name, mod := range map[string]func(map[string]any){
		"missing required": func(m map[string]any) { delete(m, "setpointMA") },
		"wrong type":       func(m map[string]any) { m["powerW"] = "11 kW" },
		"fraction":         func(m map[string]any) { m["energyWh"] = 1.5 },
		"not in enum":      func(m map[string]any) { m["state"] = "X" },
		"short array":      func(m map[string]any) { m["currentMA"] = []any{0.0} },
		"extra property":   func(m map[string]any) { m["currentA"] = 16.0 },
		"bad date":         func(m map[string]any) { m["at"] = "yesterday" },
	} {
		m := maps.Clone(good)
		mod(m)
		if errs := d.check(name, ref, m); len(errs) == 0 {
			t.Errorf("%s: checker found nothing wrong in %v", name, m)
		}
	}
}
