// Package payment is central's contract with payment providers: a hold is
// authorised before a session starts, the actual amount is captured after
// it stops (never more than the hold), the rest is released, and refunds
// and provider webhooks are handled the same way for every provider. The
// adapters live beside it: payment/stripe (PaymentIntents, Connect
// destination charges), payment/paypal (Orders v2), payment/fake (an
// in-memory provider for tests and `make run`); payment/paymenttest is the
// conformance suite they share.
//
// # Life of a hold
//
//	Authorize ──► pending ──(driver approves in the provider's page)──► Confirm ──► authorized
//	                 │                                                                │
//	                 └──────────────── Cancel ◄──────────────────────────────────────┤
//	                                     │                                            ▼
//	                                  canceled                      Capture(amount ≤ hold) ──► captured ──► Refund…
//	authorized ──(provider's validity ends: Stripe 7 days, PayPal 29 days)──► expired
//
// A Capture releases the rest of the hold. A hold that is canceled, expired
// or captured cannot be captured again with a new key (ErrState).
//
// # No card data
//
// Card numbers, CVCs and PayPal credentials never reach parkgrid: the
// driver enters them in the provider's own UI (Stripe's hosted Checkout
// page or its Payment Element in an iframe, confirmed with the
// ClientSecret; PayPal's approval page; the hosted pages at ApproveURL). parkgrid sees only the provider's ids, amounts and states,
// which keeps it out of PCI DSS scope beyond SAQ A. ClientSecret is a
// bearer token for one PaymentIntent: hand it to that driver's browser
// only, never log it.
//
// # Idempotency
//
// Every mutating call carries an IdempotencyKey that the caller derives
// from its own durable state (Key: "<session>/<operation>"), not a random
// value made per attempt. A retry after a timeout or a crash sends the same
// key, and the provider answers with the first result without moving money
// again: Stripe through its Idempotency-Key header (kept 24 h), PayPal
// through PayPal-Request-Id, the fake in memory. The same key with other
// parameters is refused (ErrIdempotencyMismatch) where the provider can
// tell. A caller that retries later than the provider remembers keys must
// read the hold's state first (Confirm does, for free).
//
// # Webhooks
//
// Providers report state changes asynchronously and deliver at least
// once. VerifyWebhook checks the signature over the exact body bytes
// (Stripe: HMAC-SHA256 with a timestamp tolerance; PayPal: its
// verify-webhook-signature API) and the signed time against the injected
// now ± tolerance before anything of the body is trusted. Receive adds the
// replay check: an event id already handled returns ErrReplayed and is not
// handled again; an id is recorded only after its handler succeeded, so
// neither a forgery nor a failed handler can make a real delivery look
// like a replay. Handlers are idempotent, which covers the remaining
// double delivery (two racing deliveries, a crash before Record).
package payment
