package broker

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
)

// TestQuietHandler: mochi's empty-message records get a message, and the
// closed-connection error of a shutdown is not a warning.
func TestQuietHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(quietHandler{slog.NewTextHandler(&buf, nil)})
	log.Warn("", "listener", "tcp", "error", fmt.Errorf("read tcp 127.0.0.1:1884: %w", net.ErrClosed))
	if buf.Len() != 0 {
		t.Errorf("shutdown read error logged at Info or above: %s", buf.String())
	}
	log.Warn("", "listener", "tcp", "error", errors.New("connection reset by peer"))
	if out := buf.String(); !strings.Contains(out, `level=WARN msg="broker connection ended"`) || !strings.Contains(out, "connection reset") {
		t.Errorf("other read error: %q", out)
	}
	buf.Reset()
	log.Info("mochi mqtt server started")
	if !strings.Contains(buf.String(), `msg="mochi mqtt server started"`) {
		t.Errorf("ordinary record changed: %q", buf.String())
	}
}
