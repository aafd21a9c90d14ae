// Package fake is an in-memory payment.Provider with the behaviour of a
// real one: holds wait for the driver's approval (or are approved at once
// with AutoApprove, for `make run`), a capture takes at most the hold and
// only once, a canceled or expired hold is refused, refunds never exceed
// what was captured, and a repeated idempotency key returns the first
// result without moving money again. Hold expiry follows the injected
// clock. Webhooks are signed like Stripe's (HMAC-SHA256 over
// "<unix time>.<body>", header Fake-Signature: t=…,v1=…) so the replay and
// tolerance paths can be exercised without a network.
//
// State lives in memory and is lost on restart: this is a provider for
// tests and demos, never for real money.
package fake
