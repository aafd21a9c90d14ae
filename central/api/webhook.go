package api

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/parkgrid/parkgrid/central/catalog"
	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/session"
)

// maxWebhookBody bounds a webhook delivery.
const maxWebhookBody = 1 << 20

// webhook receives a provider's event: the signature over the exact body
// is checked first (central/payment's verifiers), an event id already
// handled is refused as a replay (answered 200, nothing done), and a hold
// the driver approved or refused moves its session (Confirm).
func (a *API) webhook(c *gin.Context) {
	name := c.Param("provider")
	v, ok := a.c.Webhooks[name]
	if !ok {
		fail(c, http.StatusNotFound, "not_found", "no such payment provider")
		return
	}
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxWebhookBody+1))
	if err != nil || len(body) > maxWebhookBody {
		fail(c, http.StatusBadRequest, "bad_request", "body unreadable or too large")
		return
	}
	ev, err := payment.Receive(c.Request.Context(), name, v, a.c.Catalog, a.handleEvent, c.Request.Header, body, a.now())
	switch {
	case errors.Is(err, payment.ErrReplayed):
		a.log.Info("webhook replay refused", "provider", name, "event", ev.ID)
		c.JSON(http.StatusOK, gin.H{"status": "replayed"})
	case errors.Is(err, payment.ErrSignature), errors.Is(err, payment.ErrStale), errors.Is(err, payment.ErrInvalid):
		a.log.Warn("webhook refused", "provider", name, "err", err)
		fail(c, http.StatusBadRequest, "bad_signature", "signature or timestamp not valid")
	case err != nil:
		a.internal(c, "webhook", err)
	default:
		c.JSON(http.StatusOK, gin.H{"status": "handled", "event": ev.ID})
	}
}

// handleEvent moves the session of an approved or refused hold; it is
// idempotent (a session no longer created is left alone).
func (a *API) handleEvent(ctx context.Context, ev payment.Event) error {
	switch ev.Kind {
	case payment.EventAuthorized, payment.EventFailed, payment.EventCanceled:
	default:
		return nil // captures and refunds are moved by central itself
	}
	st, err := a.c.Catalog.StartByHold(ctx, ev.HoldID)
	if errors.Is(err, catalog.ErrNotFound) {
		a.log.Info("webhook for an unknown hold", "hold", ev.HoldID, "event", ev.ID)
		return nil
	}
	if err != nil {
		return err
	}
	s, err := a.c.SessionStore.Session(ctx, st.Session)
	if err != nil {
		return err
	}
	if s.State != session.StateCreated {
		return nil
	}
	now := a.now()
	if s, err = a.c.Sessions.Confirm(ctx, s.ID, now); err != nil {
		return err
	}
	a.authorizeEdge(ctx, s, now)
	return nil
}
