package command

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parkgrid/parkgrid/edge/reading"
)

// Errors callers branch on with errors.Is.
var (
	// ErrNoReply: the edge did not answer within the timeout.
	ErrNoReply = errors.New("no reply from the edge")
	// ErrRefused: the edge answered with an error (its text follows).
	ErrRefused = errors.New("edge refused the command")
	// ErrNoGateway: no active gateway is enrolled for the site.
	ErrNoGateway = errors.New("no gateway enrolled for the site")
	// ErrInvalid: a request refused before anything is sent.
	ErrInvalid = errors.New("invalid command")
)

// Publisher publishes one message (QoS 1, not retained).
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte) error
}

// Directory finds the gateway serving a site and its current key
// (StoreDirectory reads central's store).
type Directory interface {
	SiteGateway(ctx context.Context, site string) (gateway string, key ed25519.PublicKey, err error)
}

// Config configures a Commander.
type Config struct {
	Key       ed25519.PrivateKey // central's: signs commands
	Directory Directory
	Publisher Publisher
	Timeout   time.Duration    // wait for a reply (default 10 s)
	TTL       time.Duration    // a command expires this long after it is issued (default 30 s, at least Timeout)
	Now       func() time.Time // nil: time.Now
	Log       *slog.Logger     // nil: discard
}

// Stats count replies.
type Stats struct {
	Sent, Answered, TimedOut uint64
	Unmatched                uint64 // verified replies nobody here waits for (another replica's)
	Forged                   uint64 // replies that do not verify or decode
}

// Commander sends commands and waits for their replies.
type Commander struct {
	cfg Config
	log *slog.Logger

	sent, answered, timedOut, unmatched, forged atomic.Uint64

	mu      sync.Mutex // protects waiting
	waiting map[string]*waiter
}

type waiter struct {
	gateway string
	key     ed25519.PublicKey
	reply   chan reading.Reply // cap 1
}

// New returns a Commander.
func New(cfg Config) (*Commander, error) {
	if len(cfg.Key) != ed25519.PrivateKeySize || cfg.Directory == nil || cfg.Publisher == nil {
		return nil, errors.New("command: central's key, a directory and a publisher are required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 30 * time.Second
	}
	cfg.TTL = max(cfg.TTL, cfg.Timeout)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Commander{cfg: cfg, log: cfg.Log, waiting: map[string]*waiter{}}, nil
}

// Stats returns the counters.
func (c *Commander) Stats() Stats {
	return Stats{Sent: c.sent.Load(), Answered: c.answered.Load(), TimedOut: c.timedOut.Load(), Unmatched: c.unmatched.Load(), Forged: c.forged.Load()}
}

// Authorize lets point at site charge for session sessionID with class
// ("eco" or "premium") and energy cap capWh (0: none); a car not plugged
// in by holdExpires (zero: never) ends the authorisation at the edge.
func (c *Commander) Authorize(ctx context.Context, site, point, sessionID, class string, capWh int64, holdExpires time.Time) error {
	a := reading.Authorisation{Point: point, Session: sessionID, Class: class, CapWh: capWh, HoldExpires: holdExpires}
	if _, err := reading.ParseAuthorisation(a.Args()); err != nil {
		return fmt.Errorf("authorize session %s: %w: %v", sessionID, ErrInvalid, err)
	}
	args := a.Args()
	if holdExpires.IsZero() {
		delete(args, reading.ArgHoldExpires)
	}
	_, err := c.Send(ctx, site, reading.KindAuthorise, args)
	if err != nil {
		return fmt.Errorf("authorize session %s at %s/%s: %w", sessionID, site, point, err)
	}
	return nil
}

// Stop stops session sessionID at point of site.
func (c *Commander) Stop(ctx context.Context, site, point, sessionID string) error {
	if point == "" || sessionID == "" {
		return fmt.Errorf("stop session %q: %w: point and session required", sessionID, ErrInvalid)
	}
	_, err := c.Send(ctx, site, reading.KindStop, map[string]string{reading.ArgPoint: point, reading.ArgSession: sessionID})
	if err != nil {
		return fmt.Errorf("stop session %s at %s/%s: %w", sessionID, site, point, err)
	}
	return nil
}

// Send sends one command of kind with args to the site's gateway and
// waits for its reply; an ok reply's result is returned.
func (c *Commander) Send(ctx context.Context, site, kind string, args map[string]string) (map[string]string, error) {
	if site == "" {
		return nil, fmt.Errorf("%w: no site", ErrInvalid)
	}
	gw, key, err := c.cfg.Directory.SiteGateway(ctx, site)
	if err != nil {
		return nil, err
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	id := hex.EncodeToString(raw[:])
	now := c.cfg.Now()
	msg, err := reading.SealCommand(reading.Command{ID: id, Gateway: gw, Kind: kind, Issued: now.UTC(), Expires: now.Add(c.cfg.TTL).UTC(), Args: args}, c.cfg.Key)
	if err != nil {
		return nil, err
	}
	w := &waiter{gateway: gw, key: key, reply: make(chan reading.Reply, 1)}
	c.mu.Lock()
	c.waiting[id] = w
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, id)
		c.mu.Unlock()
	}()
	if err := c.cfg.Publisher.Publish(ctx, reading.CmdTopic(site), msg); err != nil {
		return nil, fmt.Errorf("publish command %s: %w", id, err)
	}
	c.sent.Add(1)
	c.log.Info("command sent", "id", id, "kind", kind, "site", site, "gateway", gw, "point", args[reading.ArgPoint], "session", args[reading.ArgSession])
	timer := time.NewTimer(c.cfg.Timeout)
	defer timer.Stop()
	select {
	case r := <-w.reply:
		c.answered.Add(1)
		if !r.OK {
			return nil, fmt.Errorf("%w: %s", ErrRefused, r.Error)
		}
		return r.Result, nil
	case <-timer.C:
		c.timedOut.Add(1)
		return nil, fmt.Errorf("command %s to gateway %s: %w within %s", id, gw, ErrNoReply, c.cfg.Timeout)
	case <-ctx.Done():
		return nil, fmt.Errorf("command %s: %w", id, ctx.Err())
	}
}

// HandleReply takes one message from a reply topic: a reply this
// Commander waits for, verified with the key of the gateway it was sent
// to, is handed to its waiter; anything else is counted and dropped.
func (c *Commander) HandleReply(msg []byte) {
	var w *waiter
	r, err := reading.OpenReply(msg, func(gw string) (ed25519.PublicKey, error) {
		// Only the gateway the command went to may answer it; the id is
		// read after the signature, so look the waiter up by gateway here
		// and by id below.
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, cand := range c.waiting {
			if cand.gateway == gw {
				return cand.key, nil
			}
		}
		return nil, errNotWaiting
	})
	switch {
	case errors.Is(err, errNotWaiting):
		c.unmatched.Add(1)
		return
	case err != nil:
		c.forged.Add(1)
		c.log.Warn("reply refused: does not verify or decode", "err", err)
		return
	}
	c.mu.Lock()
	if cand := c.waiting[r.ID]; cand != nil && cand.gateway == r.Gateway {
		w = cand
	}
	c.mu.Unlock()
	if w == nil {
		c.unmatched.Add(1)
		return
	}
	select {
	case w.reply <- r:
	default: // a repeat of a reply already handed over
	}
}

var errNotWaiting = errors.New("no command waits for this gateway here")
