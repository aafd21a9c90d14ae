package sqlbuild

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/store"
)

var (
	dollar = Dialect{
		Param: func(n int) string { return "$" + strconv.Itoa(n) },
		Time:  func(t time.Time) any { return t },
	}
	question = Dialect{
		Param: func(int) string { return "?" },
		Time:  func(t time.Time) any { return t.UnixMicro() },
	}
)

func TestBind(t *testing.T) {
	for _, c := range []struct {
		d        Dialect
		in, want string
	}{
		{dollar, "a = ? AND b = ?", "a = $1 AND b = $2"},
		{dollar, "VALUES (?, ?)", "VALUES ($1, $2)"},
		{dollar, "no params", "no params"},
		{question, "a = ? AND b = ?", "a = ? AND b = ?"},
	} {
		if got := c.d.bind(c.in); got != c.want {
			t.Errorf("bind(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestReadingsWhere(t *testing.T) {
	from := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	f := store.ReadingFilter{Gateway: "gw", Quantity: "P", From: from, Limit: 5}
	for _, c := range []struct {
		d     Dialect
		where string
		t     any
	}{
		{dollar, " WHERE r.gateway = $1 AND r.quantity = $2 AND r.t >= $3 ORDER BY", from},
		{question, " WHERE r.gateway = ? AND r.quantity = ? AND r.t >= ? ORDER BY", from.UnixMicro()},
	} {
		q, args := Readings(c.d, f)
		if !strings.Contains(q, c.where) || !strings.HasSuffix(q, " LIMIT 5") {
			t.Errorf("query %q lacks %q or LIMIT 5", q, c.where)
		}
		if len(args) != 3 || args[0] != "gw" || args[1] != "P" || args[2] != c.t {
			t.Errorf("args = %v", args)
		}
	}
	if q, args := CountReadings(dollar, store.ReadingFilter{Limit: 3}); q != "SELECT count(*) FROM readings r" || len(args) != 0 {
		t.Errorf("empty count = %q %v", q, args)
	}
}
