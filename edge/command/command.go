package command

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parkgrid/parkgrid/edge/reading"
)

// Executor carries out the commands (the edge's session manager).
type Executor interface {
	// Authorise lets a point charge for one session; result goes into the
	// reply.
	Authorise(ctx context.Context, a reading.Authorisation) (result map[string]string, err error)
	// Stop stops a session.
	Stop(ctx context.Context, point, session string) (result map[string]string, err error)
}

// Site carries out the site commands (the edge's EMS adapter: the same
// way into the control loop and the safety latch as the local EMS API's).
type Site interface {
	// SetLimit puts l in force at now (or withdraws the limit in force)
	// under requestID and returns what the chargers may draw after it.
	SetLimit(ctx context.Context, l reading.SiteLimit, requestID string, now time.Time) (reading.LimitInForce, error)
	// ResetSafety releases the safety latch; it refuses while the alarm is
	// still present, saying why.
	ResetSafety(ctx context.Context, who, why string, now time.Time) error
}

// Config configures a Handler.
type Config struct {
	Site       string
	Gateway    string
	CentralKey ed25519.PublicKey  // verifies commands
	Key        ed25519.PrivateKey // the gateway's: signs replies
	StateFile  string             // the done file (see the package doc)
	Exec       Executor
	SiteExec   Site             // set-limit and safety-reset; nil: refused
	Log        *slog.Logger     // nil: discard
	Now        func() time.Time // nil: time.Now
}

// Stats count what the handler did.
type Stats struct {
	Executed uint64 // commands executed (ok or not)
	Repeated uint64 // commands seen again and answered from the done file
	Expired  uint64 // authentic commands past their expiry
	Ignored  uint64 // forged, malformed or for another gateway: no reply
}

// Handler verifies, executes and answers commands. It is safe for
// concurrent use; commands are executed one at a time.
type Handler struct {
	cfg Config
	log *slog.Logger

	executed, repeated, expired, ignored atomic.Uint64

	mu   sync.Mutex // serialises Handle; protects the fields below
	done doneFile
	lim  logLimiter
}

// pruneGrace keeps a done id this long past its command's expiry, so a
// clock set back a little cannot make an expired command new again.
const pruneGrace = time.Hour

// New loads the done file (a missing one is empty) and returns the handler.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Site == "" || cfg.Gateway == "":
		return nil, errors.New("command handler: site and gateway are required")
	case len(cfg.CentralKey) != ed25519.PublicKeySize:
		return nil, errors.New("command handler: central's public key is required: commands cannot be verified")
	case len(cfg.Key) != ed25519.PrivateKeySize:
		return nil, errors.New("command handler: the gateway key is required: replies cannot be signed")
	case cfg.StateFile == "" || cfg.Exec == nil:
		return nil, errors.New("command handler: a state file and an executor are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d, err := loadDone(cfg.StateFile)
	if err != nil {
		return nil, err
	}
	d.prune(cfg.Now().Add(-pruneGrace))
	return &Handler{cfg: cfg, log: cfg.Log, done: d, lim: logLimiter{every: 10 * time.Second, now: cfg.Now}}, nil
}

// Stats returns the counters.
func (h *Handler) Stats() Stats {
	return Stats{Executed: h.executed.Load(), Repeated: h.repeated.Load(), Expired: h.expired.Load(), Ignored: h.ignored.Load()}
}

// Handle takes one message from the command topic and returns the signed
// reply to publish on reading.ReplyTopic, or nil when none is due (see the
// package doc).
func (h *Handler) Handle(ctx context.Context, msg []byte) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.cfg.Now()
	c, err := reading.OpenCommand(msg, h.cfg.CentralKey, h.cfg.Gateway, now)
	switch {
	case errors.Is(err, reading.ErrExpired):
		// Authentic but late: say so, so central does not wait in vain.
		h.expired.Add(1)
		if n, ok := h.lim.allow(); ok {
			h.log.Warn("command refused: expired", "id", c.ID, "kind", c.Kind, "err", err, "refused_since_last_log", n)
		}
		return h.reply(reading.Reply{ID: c.ID, Error: err.Error()})
	case err != nil:
		h.ignored.Add(1)
		if n, ok := h.lim.allow(); ok {
			h.log.Warn("command ignored: not signed by central, malformed or not for this gateway", "err", err, "ignored_since_last_log", n)
		}
		return nil
	}
	h.done.prune(now.Add(-pruneGrace))
	if e, seen := h.done.Done[c.ID]; seen {
		h.repeated.Add(1)
		h.log.Info("command seen before; not executed again", "id", c.ID, "kind", c.Kind, "state", e.State)
		if e.State != stateDone {
			return h.reply(reading.Reply{ID: c.ID, Error: "command " + c.ID + " was interrupted by a restart; its outcome is unknown: send a new command"})
		}
		return h.reply(reading.Reply{ID: c.ID, OK: e.OK, Error: e.Error, Result: e.Result})
	}
	h.done.Done[c.ID] = &doneEntry{Expires: c.Expires, Kind: c.Kind, State: stateStarted}
	if err := h.done.save(h.cfg.StateFile); err != nil {
		// Without the note a replay could run it twice: refuse.
		delete(h.done.Done, c.ID)
		h.log.Error("command refused: the done file cannot be written", "id", c.ID, "err", err)
		return h.reply(reading.Reply{ID: c.ID, Error: "the edge cannot note the command (" + err.Error() + "); not executed"})
	}
	result, err := h.execute(ctx, c)
	h.executed.Add(1)
	e := h.done.Done[c.ID]
	e.State, e.OK, e.Result = stateDone, err == nil, result
	if err != nil {
		e.Error = err.Error()
		h.log.Warn("command failed", "id", c.ID, "kind", c.Kind, "err", err)
	} else {
		h.log.Info("command executed", "id", c.ID, "kind", c.Kind, "point", c.Args[reading.ArgPoint], "session", c.Args[reading.ArgSession], "result", result)
	}
	if serr := h.done.save(h.cfg.StateFile); serr != nil {
		// Executed and noted as started: a replay is refused all the same.
		h.log.Error("command outcome not noted", "id", c.ID, "err", serr)
	}
	return h.reply(reading.Reply{ID: c.ID, OK: e.OK, Error: e.Error, Result: result})
}

// execute runs one command.
func (h *Handler) execute(ctx context.Context, c reading.Command) (map[string]string, error) {
	switch c.Kind {
	case reading.KindAuthorise:
		a, err := reading.ParseAuthorisation(c.Args)
		if err != nil {
			return nil, err
		}
		return h.cfg.Exec.Authorise(ctx, a)
	case reading.KindStop:
		p, s := c.Args[reading.ArgPoint], c.Args[reading.ArgSession]
		if p == "" || s == "" {
			return nil, fmt.Errorf("%w: stop needs %s and %s", reading.ErrMalformed, reading.ArgPoint, reading.ArgSession)
		}
		return h.cfg.Exec.Stop(ctx, p, s)
	case reading.KindSetLimit, reading.KindSafetyReset:
		return h.site(ctx, c)
	}
	return nil, fmt.Errorf("unknown command kind %q (this edge knows %s)", c.Kind, knownKinds)
}

// knownKinds are the command kinds this edge knows, as its error names them.
const knownKinds = reading.KindAuthorise + ", " + reading.KindStop + ", " + reading.KindSetLimit + ", " + reading.KindSafetyReset

// site runs a site command: set-limit under the request id
// "central/<command id>", safety-reset with who marked as central's.
func (h *Handler) site(ctx context.Context, c reading.Command) (map[string]string, error) {
	if h.cfg.SiteExec == nil {
		return nil, fmt.Errorf("%s: this edge takes no site commands (no control loop wired)", c.Kind)
	}
	now := h.cfg.Now()
	if c.Kind == reading.KindSafetyReset {
		r, err := reading.ParseSafetyReset(c.Args)
		if err != nil {
			return nil, err
		}
		if err := h.cfg.SiteExec.ResetSafety(ctx, r.Who+" via central", r.Why, now); err != nil {
			return nil, err
		}
		return map[string]string{"state": "reset"}, nil
	}
	l, err := reading.ParseSiteLimit(c.Args)
	if err != nil {
		return nil, err
	}
	eff, err := h.cfg.SiteExec.SetLimit(ctx, l, RequestID(c.ID), now)
	if err != nil {
		return nil, err
	}
	return eff.Result(), nil
}

// RequestID is the request id a set-limit command's limit is kept under
// at the edge (shown in the EMS API's site state).
func RequestID(commandID string) string { return "central/" + commandID }

// reply signs r; nil if it cannot be encoded (logged).
func (h *Handler) reply(r reading.Reply) []byte {
	r.Site, r.Gateway, r.At = h.cfg.Site, h.cfg.Gateway, h.cfg.Now().UTC()
	if !r.OK && r.Error == "" {
		r.Error = "failed"
	}
	msg, err := reading.SealReply(r, h.cfg.Key)
	if err != nil {
		h.log.Error("reply not sealed", "id", r.ID, "err", err)
		return nil
	}
	return msg
}

// logLimiter lets a repeated log line through at most once per every.
type logLimiter struct {
	every time.Duration
	now   func() time.Time
	last  time.Time
	n     int
}

func (l *logLimiter) allow() (int, bool) {
	l.n++
	now := l.now()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		return 0, false
	}
	n := l.n
	l.last, l.n = now, 0
	return n, true
}
