// Package sqlbuild writes the SQL that the postgres and sqlite stores share
// to the letter but for their dialects: the filtered SELECTs of readings,
// snapshots and rejections (WHERE clause, order, LIMIT), the table counts
// and the row a rejection is written as. (The advance of the contiguous seq
// is store.AdvanceTx.) A Dialect says how
// placeholders and times are spelled; each store keeps its own
// transactions, scanning and bulk writing.
package sqlbuild

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/parkgrid/parkgrid/central/store"
)

// Dialect is what differs between the databases in the SQL built here.
type Dialect struct {
	// Param returns the placeholder of the n-th argument, counting from 1.
	Param func(n int) string
	// Time encodes a time argument as its column stores it.
	Time func(time.Time) any
}

// bind replaces the i-th ? of query with d.Param(i). The statements of this
// package hold no other question mark.
func (d Dialect) bind(query string) string {
	var b strings.Builder
	n := 0
	for _, part := range strings.SplitAfter(query, "?") {
		if strings.HasSuffix(part, "?") {
			n++
			part = part[:len(part)-1] + d.Param(n)
		}
		b.WriteString(part)
	}
	return b.String()
}

// Where builds a WHERE clause from equality conditions and time bounds.
type Where struct {
	d     Dialect
	conds []string
	Args  []any // the arguments of the placeholders, in order
}

// NewWhere returns an empty clause in dialect d.
func NewWhere(d Dialect) *Where { return &Where{d: d} }

// Eq adds col = v unless v is empty.
func (w *Where) Eq(col, v string) {
	if v != "" {
		w.Args = append(w.Args, v)
		w.conds = append(w.conds, col+" = "+w.d.Param(len(w.Args)))
	}
}

// Cmp adds col op t unless t is zero.
func (w *Where) Cmp(col, op string, t time.Time) {
	if !t.IsZero() {
		w.Args = append(w.Args, w.d.Time(t))
		w.conds = append(w.conds, col+" "+op+" "+w.d.Param(len(w.Args)))
	}
}

// String returns " WHERE …", or "" without conditions.
func (w *Where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// Limit returns " LIMIT n", or "" for n <= 0 (no limit).
func Limit(n int) string {
	if n <= 0 {
		return ""
	}
	return " LIMIT " + strconv.Itoa(n)
}

func readingWhere(d Dialect, f store.ReadingFilter) *Where {
	w := NewWhere(d)
	w.Eq("r.gateway", f.Gateway)
	w.Eq("r.site", f.Site)
	w.Eq("r.device", f.Device)
	w.Eq("r.point", f.Point)
	w.Eq("r.quantity", f.Quantity)
	w.Eq("r.session", f.Session)
	w.Cmp("r.t", ">=", f.From)
	w.Cmp("r.t", "<", f.To)
	return w
}

// Readings selects the readings matching f, ordered by gateway, epoch, seq
// and index, with the columns gateway, epoch, seq, idx, site, device, point,
// quantity, value, stale, t, session and the snapshot's OCMF (” without one).
func Readings(d Dialect, f store.ReadingFilter) (query string, args []any) {
	w := readingWhere(d, f)
	return `SELECT r.gateway, r.epoch, r.seq, r.idx, r.site, r.device, r.point, r.quantity, r.value,
		r.stale, r.t, r.session, coalesce(sn.ocmf, '')
		FROM readings r LEFT JOIN snapshots sn ON sn.gateway = r.gateway AND sn.epoch = r.epoch AND sn.seq = r.seq AND sn.idx = r.idx` +
		w.String() + ` ORDER BY r.gateway, r.epoch, r.seq, r.idx` + Limit(f.Limit), w.Args
}

// CountReadings counts the readings matching f (f.Limit is ignored).
func CountReadings(d Dialect, f store.ReadingFilter) (query string, args []any) {
	w := readingWhere(d, f)
	return `SELECT count(*) FROM readings r` + w.String(), w.Args
}

// Snapshots selects the snapshots matching f, ordered by gateway, epoch,
// seq and index, with the columns gateway, epoch, seq, idx, site, meter,
// session, t, ocmf, verified.
func Snapshots(d Dialect, f store.SnapshotFilter) (query string, args []any) {
	w := NewWhere(d)
	w.Eq("gateway", f.Gateway)
	w.Eq("site", f.Site)
	w.Eq("meter", f.Meter)
	w.Eq("session", f.Session)
	return `SELECT gateway, epoch, seq, idx, site, meter, session, t, ocmf, verified FROM snapshots` +
		w.String() + ` ORDER BY gateway, epoch, seq, idx` + Limit(f.Limit), w.Args
}

// Rejections selects the rejections matching f, oldest first, with the
// columns id, received_at, topic, gateway, seq, reason, detail, size,
// sha256, head.
func Rejections(d Dialect, f store.RejectionFilter) (query string, args []any) {
	w := NewWhere(d)
	w.Eq("gateway", f.Gateway)
	w.Eq("reason", f.Reason)
	return `SELECT id, received_at, topic, gateway, seq, reason, detail, size, sha256, head
		FROM rejections` + w.String() + ` ORDER BY id` + Limit(f.Limit), w.Args
}

// RejectionColumns are the columns RejectionRow fills, in its order.
var RejectionColumns = []string{"received_at", "topic", "gateway", "seq", "reason", "detail", "size", "sha256", "head"}

// RejectionRow returns r as written: cleaned (see store.Rejection.Clean),
// received now when r.Received is zero, seq 0 when it does not fit a bigint,
// head never NULL. Times are encoded by d; size is an int32 (the column is an
// integer in both schemas).
func RejectionRow(d Dialect, r store.Rejection, now time.Time) []any {
	r = r.Clean()
	t := r.Received
	if t.IsZero() {
		t = now
	}
	seq := int64(0)
	if r.Seq <= math.MaxInt64 {
		seq = int64(r.Seq)
	}
	head := r.Head
	if head == nil {
		head = []byte{}
	}
	return []any{d.Time(t), r.Topic, r.Gateway, seq, r.Reason, r.Detail, int32(r.Size), r.SHA256[:], head}
}

// Counts selects the row counts of batches, readings, snapshots, events and
// rejections, in that order.
const Counts = `SELECT
	(SELECT count(*) FROM batches), (SELECT count(*) FROM readings), (SELECT count(*) FROM snapshots),
	(SELECT count(*) FROM events), (SELECT count(*) FROM rejections)`
