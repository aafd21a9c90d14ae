// Package stripe is the payment.Provider on Stripe (github.com/stripe/stripe-go/v82):
// a hold is a PaymentIntent with capture_method=manual that the driver
// confirms in Stripe's Payment Element (cards: Visa, Mastercard, Amex),
// or, when the caller gives a return URL, one that a Checkout Session on
// Stripe's hosted page creates (checkout.go: Apple Pay, Google Pay and
// 3-D Secure are that page's job); Capture takes amount_to_capture ≤ the
// hold and Stripe releases the rest. stripetest fakes those endpoints
// with state, for flow tests.
//
// With a payee account it makes Connect destination charges: the charge is
// created on the platform's account, transfer_data.destination moves the
// amount to the operator's connected account, and application_fee_amount
// stays with the platform. Without OnBehalfOf the platform is the
// settlement merchant (its statement descriptor, its Stripe fees, its
// disputes); with it, the operator's account is. docs/billing.md has the
// money flow.
//
// Every mutating request carries the caller's key as Idempotency-Key, and
// stripe-go's own retries reuse it. Webhooks are checked with stripe-go's
// webhook package (HMAC-SHA256 over "<t>.<body>") and the signed timestamp
// against the injected time ± tolerance.
package stripe
