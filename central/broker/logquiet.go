package broker

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
)

// quietHandler adapts mochi-mqtt's log records to ours: a record with an
// empty message (mochi logs listener read errors that way) gets one that
// says what it is, and the "use of closed network connection" a listener
// reports while the broker shuts down is Debug, not a warning.
type quietHandler struct{ slog.Handler }

func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message != "" {
		return h.Handler.Handle(ctx, r)
	}
	level, msg := r.Level, "broker connection ended"
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "error" {
			return true
		}
		if err, ok := a.Value.Any().(error); (ok && errors.Is(err, net.ErrClosed)) || strings.Contains(a.Value.String(), "use of closed network connection") {
			level, msg = slog.LevelDebug, "broker connection closed at shutdown"
		}
		return false
	})
	if !h.Handler.Enabled(ctx, level) {
		return nil
	}
	out := slog.NewRecord(r.Time, level, msg, r.PC)
	r.Attrs(func(a slog.Attr) bool { out.AddAttrs(a); return true })
	return h.Handler.Handle(ctx, out)
}

func (h quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(as)}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{h.Handler.WithGroup(name)}
}
