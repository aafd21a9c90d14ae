package auth

import (
	"sync"
	"time"
)

// Limiter counts failures per key (an IP, an e-mail) in a sliding window
// and refuses a key that reached Max of them. Time is passed in.
type Limiter struct {
	Max    int
	Window time.Duration

	mu       sync.Mutex // protects the fields below
	failures map[string][]time.Time
}

// NewLimiter returns a limiter allowing max failures per window and key.
func NewLimiter(max int, window time.Duration) *Limiter {
	return &Limiter{Max: max, Window: window, failures: map[string][]time.Time{}}
}

// maxKeys bounds the memory a flood of distinct keys can take: beyond it,
// keys whose failures all left the window are dropped first.
const maxKeys = 100_000

// Allowed reports whether key may try again at now.
func (l *Limiter) Allowed(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recent(key, now)) < l.Max
}

// Fail records a failure of key at now.
func (l *Limiter) Fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failures) >= maxKeys {
		for k := range l.failures {
			if len(l.recent(k, now)) == 0 {
				delete(l.failures, k)
			}
		}
	}
	l.failures[key] = append(l.recent(key, now), now)
}

// Reset forgets key's failures (after a successful login).
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, key)
}

// recent returns key's failures inside the window ending at now, storing
// the pruned list. Callers hold mu.
func (l *Limiter) recent(key string, now time.Time) []time.Time {
	fs := l.failures[key]
	i := 0
	for i < len(fs) && !fs[i].After(now.Add(-l.Window)) {
		i++
	}
	fs = fs[i:]
	if len(fs) == 0 {
		delete(l.failures, key)
		return nil
	}
	l.failures[key] = fs
	return fs
}
