package store

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/parkgrid/parkgrid/edge/reading"
)

// Errors callers branch on with errors.Is.
var (
	// ErrNotFound: no gateway, meter key or batch with that identity.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the (gateway, epoch, seq) is stored with other body bytes.
	ErrConflict = errors.New("seq already stored with different content")
	// ErrInvalid: an argument the store refuses before touching the database.
	ErrInvalid = errors.New("invalid argument")
)

// Store is everything central persists. Implementations are safe for
// concurrent use. It grows with later issues (sessions, invoices …).
type Store interface {
	// SaveBatch stores one batch; raw is the exact signed body; the epoch is
	// the batch's. A repeat of (gateway, epoch, seq) with the same bytes is
	// a no-op returning false; with
	// other bytes it returns an error wrapping ErrConflict. OCMF snapshots
	// stored through SaveBatch are marked unverified (see Item.OCMFVerified).
	SaveBatch(ctx context.Context, gateway string, seq uint64, batch reading.Batch, raw []byte) (stored bool, err error)
	// SaveBatches stores items in one transaction and returns one outcome per
	// item, in the items' order. On error nothing of the call is stored.
	SaveBatches(ctx context.Context, items []Item) ([]Outcome, error)
	// HighestContiguousSeq returns n such that seq 1..n of the gateway's
	// outbox epoch are all stored or declared lost by a stored gap record;
	// 0 when seq 1 is neither.
	HighestContiguousSeq(ctx context.Context, gateway, epoch string) (uint64, error)
	// Batch returns the stored batch (gateway, epoch, seq) or ErrNotFound.
	Batch(ctx context.Context, gateway, epoch string, seq uint64) (StoredBatch, error)
	// Completeness: what is held per gateway and epoch (progress.go).
	Completeness

	// Readings returns stored readings matching f, ordered by gateway, seq
	// and index within the batch.
	Readings(ctx context.Context, f ReadingFilter) ([]StoredReading, error)
	// CountReadings counts readings matching f (f.Limit is ignored).
	CountReadings(ctx context.Context, f ReadingFilter) (int64, error)
	// Snapshots returns stored OCMF snapshots matching f, in the same order.
	Snapshots(ctx context.Context, f SnapshotFilter) ([]Snapshot, error)
	// Counts returns the row counts of the main tables.
	Counts(ctx context.Context) (Counts, error)

	// EnrollGateway enrols a gateway, rotates it to a new key (the old one
	// stays in its history) or reinstates a revoked one; see keys.go.
	EnrollGateway(ctx context.Context, g Gateway) error
	// Gateway returns an enrolled gateway, with its key history and
	// revocation, or ErrNotFound.
	Gateway(ctx context.Context, id string) (Gateway, error)
	// GatewayKey returns an enrolled gateway's current Ed25519 key or
	// ErrNotFound.
	GatewayKey(ctx context.Context, id string) (ed25519.PublicKey, error)
	// SetMeterKey enrols the meter's (site, device) key; a new key retires
	// the current one into the history.
	SetMeterKey(ctx context.Context, k MeterKey) error
	// MeterKey returns the meter's current key or ErrNotFound.
	MeterKey(ctx context.Context, site, device string) (MeterKey, error)
	// Keys: revocation, history and the audit log (keys.go).
	Keys
	// EvidenceIndex: the OCMF evidence index (evidence.go).
	EvidenceIndex
	// Archive: batches for exports, rejection-log retention (evidence.go).
	Archive

	// RecordRejections appends refused messages to the rejection log.
	RecordRejections(ctx context.Context, rs []Rejection) error
	// Rejections returns logged rejections matching f, oldest first.
	Rejections(ctx context.Context, f RejectionFilter) ([]Rejection, error)

	// Close releases the database handles.
	Close() error
}

// Item is one batch to store: the decoded batch and the exact bytes it was
// decoded from, which are what the gateway signed and what is kept. Its
// epoch is Batch.Epoch.
type Item struct {
	Gateway string
	Seq     uint64
	Batch   reading.Batch
	Body    []byte // exact signed body bytes; required
	Sig     []byte // the gateway's Ed25519 signature over Body; optional
	// OCMFVerified says every OCMF snapshot in Batch was verified against
	// the meter's enrolled key before the call; it is stored per snapshot.
	OCMFVerified bool
}

// Outcome is what SaveBatches did with one item.
type Outcome int8

// Outcomes of SaveBatches.
const (
	Stored    Outcome = iota + 1 // new: written in this call
	Duplicate                    // same (gateway, epoch, seq) and same bytes already stored, or earlier in the call
	Conflict                     // same (gateway, epoch, seq) stored with other bytes; nothing written
)

func (o Outcome) String() string {
	switch o {
	case Stored:
		return "stored"
	case Duplicate:
		return "duplicate"
	case Conflict:
		return "conflict"
	}
	return fmt.Sprintf("Outcome(%d)", int8(o))
}

// StoredBatch is a batch as kept: the body can be verified again with the
// gateway's key and Sig.
type StoredBatch struct {
	Gateway    string
	Epoch      string
	Seq        uint64
	Site       string
	Version    int
	Sent       time.Time
	Received   time.Time
	Body       []byte
	BodySHA256 [32]byte
	Sig        []byte
	Readings   int
	Events     int
}

// StoredReading is one stored reading with where it came from. OCMF and
// Session are filled from the snapshot when the reading carried one.
type StoredReading struct {
	Gateway string
	Epoch   string
	Seq     uint64
	Index   int // position in the batch's Readings
	Site    string
	reading.Reading
}

// ReadingFilter selects readings; empty fields match everything, From and To
// bound the reading time as [From, To).
type ReadingFilter struct {
	Gateway  string
	Site     string
	Device   string
	Point    string
	Quantity string
	Session  string
	From, To time.Time
	Limit    int // 0: no limit
}

// Snapshot is one stored OCMF snapshot (a reading that carried one).
type Snapshot struct {
	Gateway  string
	Epoch    string
	Seq      uint64
	Index    int
	Site     string
	Meter    string // the reading's Device
	Session  string
	Time     time.Time
	OCMF     string // exactly as the meter produced it
	Verified bool   // its signature was checked against the meter's enrolled key
}

// SnapshotFilter selects snapshots; empty fields match everything.
type SnapshotFilter struct {
	Gateway string
	Site    string
	Meter   string
	Session string
	Limit   int
}

// Counts are row counts of the main tables.
type Counts struct {
	Batches    int64 `json:"batches"`
	Readings   int64 `json:"readings"`
	Snapshots  int64 `json:"snapshots"`
	Events     int64 `json:"events"`
	Rejections int64 `json:"rejections"`
}

// Rejection is one refused message in the rejection log.
type Rejection struct {
	ID       int64     // set by the store
	Received time.Time // set by the store when zero
	Topic    string
	Gateway  string // as claimed by the message; may be unknown or forged
	Seq      uint64 // 0 when unknown
	Reason   string // a stable reason code (append-only, see ingest)
	Detail   string
	Size     int
	SHA256   [32]byte // of the whole message
	Head     []byte   // the message, cut at MaxRejectionHead bytes
}

// RejectionFilter selects rejections; empty fields match everything.
type RejectionFilter struct {
	Gateway string
	Reason  string
	Limit   int
}

// MaxRejectionHead bounds how much of a refused message is kept: the
// whole message, up to the largest central accepts at all (an envelope of
// a reading.MaxBodyBytes body), so a refusal can be examined later. The
// rejection log's retention (PruneRejections) bounds the total.
const MaxRejectionHead = reading.MaxBodyBytes * 2

// NewRejection fills Size, SHA256 and Head from the refused message.
func NewRejection(topic, gateway string, seq uint64, reason, detail string, msg []byte) Rejection {
	head := msg
	if len(head) > MaxRejectionHead {
		head = head[:MaxRejectionHead]
	}
	return Rejection{
		Topic: topic, Gateway: gateway, Seq: seq, Reason: reason, Detail: detail,
		Size: len(msg), SHA256: sha256.Sum256(msg), Head: append([]byte(nil), head...),
	}.Clean()
}

// Clean returns r with its text fields made storable: valid UTF-8 without
// NUL characters (a refused message may carry anything). Implementations
// apply it before writing.
func (r Rejection) Clean() Rejection {
	clean := func(s string) string {
		return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	}
	r.Topic, r.Gateway, r.Reason, r.Detail = clean(r.Topic), clean(r.Gateway), clean(r.Reason), clean(r.Detail)
	return r
}

// CheckItem validates what SaveBatches refuses before any write.
func CheckItem(it Item) error {
	switch {
	case it.Gateway == "" || it.Gateway != it.Batch.Gateway:
		return fmt.Errorf("%w: item gateway %q, batch gateway %q", ErrInvalid, it.Gateway, it.Batch.Gateway)
	case it.Seq == 0 || it.Seq > math.MaxInt64 || it.Seq != it.Batch.Seq:
		return fmt.Errorf("%w: gateway %q: item seq %d, batch seq %d (1..2^63-1, equal)", ErrInvalid, it.Gateway, it.Seq, it.Batch.Seq)
	case it.Batch.Site == "":
		return fmt.Errorf("%w: gateway %q seq %d: batch has no site", ErrInvalid, it.Gateway, it.Seq)
	case !reading.ValidEpoch(it.Batch.Epoch):
		return fmt.Errorf("%w: gateway %q seq %d: epoch %q", ErrInvalid, it.Gateway, it.Seq, it.Batch.Epoch)
	case len(it.Body) == 0:
		return fmt.Errorf("%w: gateway %q seq %d: no body bytes", ErrInvalid, it.Gateway, it.Seq)
	}
	if where := nulIn(it.Batch); where != "" {
		return fmt.Errorf("%w: gateway %q seq %d: %s contains a NUL character, which PostgreSQL text cannot hold", ErrInvalid, it.Gateway, it.Seq, where)
	}
	return nil
}

// CheckGateway validates what EnrollGateway refuses before any write.
func CheckGateway(g Gateway) error {
	if g.ID == "" || g.Site == "" || len(g.PublicKey) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: id, site and a %d-byte Ed25519 key are required", ErrInvalid, ed25519.PublicKeySize)
	}
	return nil
}

// CheckMeterKey validates what SetMeterKey refuses before any write.
func CheckMeterKey(k MeterKey) error {
	if k.Site == "" || k.Device == "" || k.PublicKey == "" {
		return fmt.Errorf("%w: site, device and key are required", ErrInvalid)
	}
	return nil
}

// nulIn names the first text field of b holding a NUL character, or "".
func nulIn(b reading.Batch) string {
	has := func(s string) bool { return strings.IndexByte(s, 0) >= 0 }
	if has(b.Site) || has(b.Gateway) {
		return "site or gateway"
	}
	for i, r := range b.Readings {
		if has(r.Device) || has(r.Point) || has(r.Quantity) || has(r.OCMF) || has(r.Session) {
			return fmt.Sprintf("reading %d", i)
		}
	}
	for i, e := range b.Events {
		if has(e.Kind) || has(e.Device) || has(e.Point) || has(e.Message) {
			return fmt.Sprintf("event %d", i)
		}
		for k, v := range e.Attrs {
			if has(k) || has(v) {
				return fmt.Sprintf("event %d", i)
			}
		}
	}
	return ""
}

// Key identifies a batch.
type Key struct {
	Gateway string
	Epoch   string
	Seq     uint64
}

// Stream is the key's gateway and epoch.
func (k Key) Stream() Stream { return Stream{k.Gateway, k.Epoch} }

// Key is the item's identity.
func (it Item) Key() Key { return Key{it.Gateway, it.Batch.Epoch, it.Seq} }

// Plan is the implementation-independent part of SaveBatches: it validates
// the items, hashes their bodies and picks, for each (gateway, epoch, seq),
// the first item of the call as the one to write. Implementations write
// Write (already in (gateway, epoch, seq) order, so concurrent writers lock
// rows in one order), report per written key whether it was inserted and the
// hash now stored, call AdvanceTx with Writes, and call Outcomes.
type Plan struct {
	Items  []Item
	Hashes [][32]byte
	Write  []int // indexes into Items, sorted by (gateway, epoch, seq), one per key
	// Gateways touched, sorted.
	Gateways []string
	// Streams touched, sorted.
	Streams []Stream
}

// NewPlan validates items and builds the plan.
func NewPlan(items []Item) (*Plan, error) {
	p := &Plan{Items: items, Hashes: make([][32]byte, len(items))}
	first := make(map[Key]bool, len(items))
	gws := make(map[string]bool)
	streams := make(map[Stream]bool)
	for i, it := range items {
		if err := CheckItem(it); err != nil {
			return nil, err
		}
		p.Hashes[i] = sha256.Sum256(it.Body)
		k := it.Key()
		if !first[k] {
			first[k] = true
			p.Write = append(p.Write, i)
		}
		if !gws[it.Gateway] {
			gws[it.Gateway] = true
			p.Gateways = append(p.Gateways, it.Gateway)
		}
		if s := k.Stream(); !streams[s] {
			streams[s] = true
			p.Streams = append(p.Streams, s)
		}
	}
	slices.SortFunc(p.Write, func(a, b int) int {
		ia, ib := items[a], items[b]
		if c := strings.Compare(ia.Gateway, ib.Gateway); c != 0 {
			return c
		}
		if c := strings.Compare(ia.Batch.Epoch, ib.Batch.Epoch); c != 0 {
			return c
		}
		return cmp.Compare(ia.Seq, ib.Seq)
	})
	slices.Sort(p.Gateways)
	slices.SortFunc(p.Streams, func(a, b Stream) int {
		if c := strings.Compare(a.Gateway, b.Gateway); c != 0 {
			return c
		}
		return strings.Compare(a.Epoch, b.Epoch)
	})
	return p, nil
}

// Written is what the database said about one written key.
type Written struct {
	Inserted bool     // this call inserted it
	Hash     [32]byte // the body hash stored for the key after the write
}

// Outcomes turns the per-key results into one outcome per item: the item
// that was inserted is Stored, every other item of the same key is a
// Duplicate when its bytes equal the stored ones, else a Conflict.
func (p *Plan) Outcomes(written map[Key]Written) ([]Outcome, error) {
	out := make([]Outcome, len(p.Items))
	inserted := make(map[Key]bool)
	for i, it := range p.Items {
		k := it.Key()
		w, ok := written[k]
		if !ok {
			return nil, fmt.Errorf("store: no write result for gateway %q epoch %q seq %d", k.Gateway, k.Epoch, k.Seq)
		}
		switch {
		case w.Inserted && !inserted[k] && p.Hashes[i] == w.Hash:
			inserted[k] = true
			out[i] = Stored
		case p.Hashes[i] == w.Hash:
			out[i] = Duplicate
		default:
			out[i] = Conflict
		}
	}
	return out, nil
}

// SaveOne implements SaveBatch on top of SaveBatches.
func SaveOne(ctx context.Context, s Store, gateway string, seq uint64, batch reading.Batch, raw []byte) (bool, error) {
	out, err := s.SaveBatches(ctx, []Item{{Gateway: gateway, Seq: seq, Batch: batch, Body: raw}})
	if err != nil {
		return false, err
	}
	switch out[0] {
	case Stored:
		return true, nil
	case Duplicate:
		return false, nil
	}
	return false, fmt.Errorf("save gateway %q seq %d: %w", gateway, seq, ErrConflict)
}

// UTC truncates t to the stored precision, in UTC; the zero time stays zero.
func UTC(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Truncate(time.Microsecond).UTC()
}
