package sessiontest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/central/session"
)

// Memory is a session.Store in memory, with invoice numbering that follows
// the same rules as central/invoice (per operator, gap-free, one per
// session). Safe for concurrent use.
type Memory struct {
	mu          sync.Mutex // protects the fields below
	sessions    map[string]session.Session
	transitions map[string][]session.Transition
	counters    map[string]int64
	invoices    map[string]invoice.Invoice // by session
}

var _ session.Store = (*Memory)(nil)

// NewMemory returns an empty store.
func NewMemory() *Memory {
	return &Memory{
		sessions: map[string]session.Session{}, transitions: map[string][]session.Transition{},
		counters: map[string]int64{}, invoices: map[string]invoice.Invoice{},
	}
}

// Create implements session.Store.
func (m *Memory) Create(_ context.Context, s session.Session, tr session.Transition) error {
	if err := session.CheckCreate(s, tr); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sessions[s.ID]; ok {
		return fmt.Errorf("memory: create session %s: %w", s.ID, session.ErrExists)
	}
	m.sessions[s.ID] = clone(s)
	m.transitions[s.ID] = []session.Transition{tr}
	return nil
}

// Session implements session.Store.
func (m *Memory) Session(_ context.Context, id string) (session.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.get(id)
}

func (m *Memory) get(id string) (session.Session, error) {
	s, ok := m.sessions[id]
	if !ok {
		return session.Session{}, fmt.Errorf("memory: session %s: %w", id, session.ErrNotFound)
	}
	s = clone(s)
	s.InvoiceNumber = m.invoices[id].Number
	return s, nil
}

// check is the version check of Update and Invoice. Callers hold mu.
func (m *Memory) check(s session.Session, tr *session.Transition) error {
	if err := session.CheckUpdate(s, tr); err != nil {
		return err
	}
	old, ok := m.sessions[s.ID]
	if !ok {
		return fmt.Errorf("memory: update session %s: %w", s.ID, session.ErrNotFound)
	}
	if old.Version != s.Version-1 {
		return fmt.Errorf("memory: update session %s to version %d: %w: stored version is %d", s.ID, s.Version, session.ErrConflict, old.Version)
	}
	return nil
}

func (m *Memory) write(s session.Session, tr *session.Transition) {
	s.InvoiceNumber = 0
	m.sessions[s.ID] = clone(s)
	if tr != nil {
		m.transitions[s.ID] = append(m.transitions[s.ID], *tr)
	}
}

// Update implements session.Store.
func (m *Memory) Update(_ context.Context, s session.Session, tr *session.Transition) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(s, tr); err != nil {
		return err
	}
	m.write(s, tr)
	return nil
}

// Invoice implements session.Store.
func (m *Memory) Invoice(_ context.Context, s session.Session, tr session.Transition, inv invoice.Invoice) (invoice.Invoice, error) {
	if err := inv.Validate(); err != nil {
		return invoice.Invoice{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(s, &tr); err != nil {
		return invoice.Invoice{}, err
	}
	if _, ok := m.invoices[inv.Session]; ok {
		return invoice.Invoice{}, fmt.Errorf("memory: invoice session %s: %w", inv.Session, invoice.ErrAlreadyIssued)
	}
	m.counters[inv.Operator]++
	inv.Number = m.counters[inv.Operator]
	m.invoices[inv.Session] = inv
	m.write(s, &tr)
	return inv, nil
}

// Transitions implements session.Store.
func (m *Memory) Transitions(_ context.Context, id string) ([]session.Transition, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sessions[id]; !ok {
		return nil, fmt.Errorf("memory: transitions of %s: %w", id, session.ErrNotFound)
	}
	return slices.Clone(m.transitions[id]), nil
}

// List implements session.Store.
func (m *Memory) List(_ context.Context, f session.Filter) ([]session.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []session.Session
	for id, s := range m.sessions {
		if slices.Contains(f.States, s.State) && (!f.Todo || s.Todo()) && (f.Operator == "" || s.Operator == f.Operator) {
			s, _ := m.get(id)
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b session.Session) int {
		return cmp.Or(a.UpdatedAt.Compare(b.UpdatedAt), cmp.Compare(a.ID, b.ID))
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// Invoices returns every issued invoice, by session.
func (m *Memory) Invoices() map[string]invoice.Invoice {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]invoice.Invoice, len(m.invoices))
	for k, v := range m.invoices {
		out[k] = v
	}
	return out
}

// clone copies the slices and pointers of s, so callers never share
// memory with the store.
func clone(s session.Session) session.Session {
	s.Review = slices.Clone(s.Review)
	if s.Billing != nil {
		b := *s.Billing
		b.OCMF = slices.Clone(b.OCMF)
		b.Price.Lines = slices.Clone(b.Price.Lines)
		s.Billing = &b
	}
	return s
}
