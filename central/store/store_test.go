package store

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/edge/reading"
)

func TestMigrationsInOrder(t *testing.T) {
	for _, d := range []string{DialectPostgres, DialectSQLite} {
		ms, err := Migrations(d)
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		for i, m := range ms {
			if m.Version != i+1 || m.Name == "" || !strings.Contains(m.SQL, "CREATE TABLE") && i == 0 {
				t.Errorf("%s: migration %d = %d %q", d, i, m.Version, m.Name)
			}
		}
	}
	if _, err := Migrations("oracle"); err == nil {
		t.Error("unknown dialect accepted")
	}
}

func it(gw string, seq uint64, body string) Item {
	return Item{Gateway: gw, Seq: seq, Batch: reading.Batch{Gateway: gw, Seq: seq, Site: "s"}, Body: []byte(body)}
}

func TestPlanOrdersAndResolvesRepeats(t *testing.T) {
	items := []Item{it("b", 2, "x"), it("a", 9, "y"), it("b", 1, "z"), it("b", 2, "x"), it("b", 2, "other")}
	p, err := NewPlan(items)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{1, 2, 0}, p.Write); diff != "" {
		t.Errorf("write order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a", "b"}, p.Gateways); diff != "" {
		t.Errorf("gateways (-want +got):\n%s", diff)
	}
	written := map[Key]Written{
		{"a", "", 9}: {Inserted: true, Hash: p.Hashes[1]},
		{"b", "", 1}: {Hash: p.Hashes[2]}, // stored before, same bytes
		{"b", "", 2}: {Inserted: true, Hash: p.Hashes[0]},
	}
	got, err := p.Outcomes(written)
	if err != nil {
		t.Fatal(err)
	}
	want := []Outcome{Stored, Stored, Duplicate, Duplicate, Conflict}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if _, err := p.Outcomes(map[Key]Written{}); err == nil {
		t.Error("missing write result accepted")
	}
}

func TestPlanSeparatesEpochs(t *testing.T) {
	a := it("g", 1, "x")
	b := it("g", 1, "y")
	b.Batch.Epoch = "0123456789abcdef0123456789abcdef"
	p, err := NewPlan([]Item{b, a})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{1, 0}, p.Write); diff != "" {
		t.Errorf("write order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Stream{{"g", ""}, {"g", b.Batch.Epoch}}, p.Streams); diff != "" {
		t.Errorf("streams (-want +got):\n%s", diff)
	}
	bad := it("g", 2, "z")
	bad.Batch.Epoch = "not-an-epoch"
	if _, err := NewPlan([]Item{bad}); err == nil {
		t.Error("an invalid epoch was accepted")
	}
}
