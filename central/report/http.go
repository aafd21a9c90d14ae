package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/parkgrid/parkgrid/central/session"
)

// ErrNotFound: no such session for this operator.
var ErrNotFound = errors.New("not found")

// RecordsLookup finds the signed records of one of operator's sessions;
// ErrNotFound for another operator's session or none.
type RecordsLookup interface {
	SignedRecords(ctx context.Context, operator, sessionID string) (SignedRecords, error)
}

// SessionGetter reads one session; session.Store has it.
type SessionGetter interface {
	Session(ctx context.Context, id string) (session.Session, error)
}

// SessionRecords is a RecordsLookup over the session store: the records
// the session was billed from, with the meter key its invoice names.
type SessionRecords struct {
	Sessions SessionGetter
	Issuers  session.Issuers
}

// SignedRecords implements RecordsLookup.
func (l SessionRecords) SignedRecords(ctx context.Context, operator, id string) (SignedRecords, error) {
	s, err := l.Sessions.Session(ctx, id)
	if errors.Is(err, session.ErrNotFound) || (err == nil && s.Operator != operator) {
		return SignedRecords{}, fmt.Errorf("session %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return SignedRecords{}, err
	}
	if s.Billing == nil || len(s.Billing.OCMF) == 0 {
		return SignedRecords{}, fmt.Errorf("session %s: %w: no signed records (state %s)", id, ErrNotFound, s.State)
	}
	iss, err := l.Issuers.Issuer(ctx, s)
	if err != nil {
		return SignedRecords{}, fmt.Errorf("session %s: meter key: %w", id, err)
	}
	return SignedRecords{Session: id, OCMF: s.Billing.OCMF, PublicKey: iss.MeterPublicKey}, nil
}

// HandlerConfig wires Handler. Operator is required: it names the operator
// the caller is authenticated for (central/api's token scope), or false.
type HandlerConfig struct {
	Usage    Source        // nil: /usage answers 404
	Stations Catalogue     // nil: /register answers 404
	Records  RecordsLookup // nil: /sessions/{id}/safe.xml answers 404
	Operator func(r *http.Request) (string, bool)
	Location *time.Location // buckets and dates of /usage; nil: UTC
	Logger   *slog.Logger   // nil: discard
}

// Handler serves the report files below whatever prefix the API mounts
// it at (strip it with http.StripPrefix):
//
//	GET /usage?from=2026-11-01&to=2026-12-01&by=site|point|costcentre|accesscode|group&period=day|month|all&format=csv|xlsx
//	GET /register?format=csv|xlsx
//	GET /sessions/{id}/safe.xml
//
// from and to are dates in Location (to exclusive) or RFC 3339 times.
// Every request must carry an operator (HandlerConfig.Operator); the
// handler itself authenticates nobody.
func Handler(c HandlerConfig) http.Handler {
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{c: c}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /usage", h.usage)
	mux.HandleFunc("GET /register", h.register)
	mux.HandleFunc("GET /sessions/{id}/safe.xml", h.safe)
	return mux
}

type handler struct{ c HandlerConfig }

func (h *handler) operator(w http.ResponseWriter, r *http.Request) (string, bool) {
	if h.c.Operator == nil {
		http.Error(w, "no operator scope", http.StatusUnauthorized)
		return "", false
	}
	op, ok := h.c.Operator(r)
	if !ok || op == "" {
		http.Error(w, "no operator scope", http.StatusUnauthorized)
		return "", false
	}
	return op, true
}

// send writes a file built in memory, so an error halfway never leaves a
// truncated download that looks complete.
func (h *handler) send(w http.ResponseWriter, r *http.Request, ctype, name string, build func(io.Writer) error) {
	var b bytes.Buffer
	if err := build(&b); err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	w.Write(b.Bytes()) //nolint:errcheck // the client went away
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrInvalid):
		http.Error(w, err.Error(), http.StatusBadRequest)
	case errors.Is(err, ErrNotFound):
		http.Error(w, "not found", http.StatusNotFound)
	default:
		h.c.Logger.Error("report", "path", r.URL.Path, "err", err)
		http.Error(w, "report failed", http.StatusInternalServerError)
	}
}

func (h *handler) parseTime(s, name string) (time.Time, error) {
	if t, err := time.ParseInLocation("2006-01-02", s, h.c.Location); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("report: %w: %s=%q is neither YYYY-MM-DD nor RFC 3339", ErrInvalid, name, s)
}

const (
	ctypeCSV  = "text/csv; charset=utf-8"
	ctypeXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
)

func format(r *http.Request) (string, error) {
	switch f := r.URL.Query().Get("format"); f {
	case "", "csv":
		return "csv", nil
	case "xlsx":
		return "xlsx", nil
	default:
		return "", fmt.Errorf("report: %w: format %q (csv, xlsx)", ErrInvalid, f)
	}
}

func (h *handler) usage(w http.ResponseWriter, r *http.Request) {
	op, ok := h.operator(w, r)
	if !ok {
		return
	}
	if h.c.Usage == nil {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	var errs []error
	from, err := h.parseTime(q.Get("from"), "from")
	errs = append(errs, err)
	to, err := h.parseTime(q.Get("to"), "to")
	errs = append(errs, err)
	by, err := ParseDimension(or(q.Get("by"), string(BySite)))
	errs = append(errs, err)
	period, err := ParsePeriod(or(q.Get("period"), string(PeriodMonth)))
	errs = append(errs, err)
	f, err := format(r)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		h.fail(w, r, err)
		return
	}
	query := Query{Operator: op, From: from, To: to}
	if err := query.Validate(); err != nil {
		h.fail(w, r, err)
		return
	}
	rows, err := h.c.Usage.Rows(r.Context(), query)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	u, err := Summarize(query, rows, by, period, h.c.Location)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	name := fmt.Sprintf("usage-%s-%s-%s.%s", by, from.In(h.c.Location).Format("20060102"), to.In(h.c.Location).Format("20060102"), f)
	if f == "xlsx" {
		h.send(w, r, ctypeXLSX, name, func(w io.Writer) error { return WriteXLSX(w, u) })
		return
	}
	h.send(w, r, ctypeCSV, name, func(w io.Writer) error { return WriteCSV(w, u) })
}

func (h *handler) register(w http.ResponseWriter, r *http.Request) {
	op, ok := h.operator(w, r)
	if !ok {
		return
	}
	if h.c.Stations == nil {
		http.NotFound(w, r)
		return
	}
	f, err := format(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	st, err := h.c.Stations.Stations(r.Context(), op)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if f == "xlsx" {
		h.send(w, r, ctypeXLSX, "ladesaeulenregister.xlsx", func(w io.Writer) error { return WriteRegisterXLSX(w, st) })
		return
	}
	h.send(w, r, ctypeCSV, "ladesaeulenregister.csv", func(w io.Writer) error { return WriteRegisterCSV(w, st) })
}

func (h *handler) safe(w http.ResponseWriter, r *http.Request) {
	op, ok := h.operator(w, r)
	if !ok {
		return
	}
	if h.c.Records == nil {
		http.NotFound(w, r)
		return
	}
	id := r.PathValue("id")
	sr, err := h.c.Records.SignedRecords(r.Context(), op, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	name := "session-" + strings.Map(func(c rune) rune {
		if c < 0x20 || c == '"' || c == '\\' || c == '/' {
			return '_'
		}
		return c
	}, id) + "-safe.xml"
	h.send(w, r, "application/xml; charset=utf-8", name, func(w io.Writer) error { return WriteSAFE(w, sr) })
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
