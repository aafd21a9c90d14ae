// Package paypal is the payment.Provider on PayPal's Orders v2 REST API
// over plain net/http: a hold is an order with intent AUTHORIZE that the
// driver approves on PayPal's page (Hold.ApproveURL); Confirm then places
// the authorisation (valid up to 29 days), Capture takes an amount up to
// the hold with final_capture (PayPal itself would allow up to 115 %, so
// the adapter checks first), Cancel voids it, Refund refunds the capture.
//
// Authentication is OAuth2 client credentials; the token is cached until
// shortly before it expires and fetched again after a 401. Every mutating
// call carries the caller's key as PayPal-Request-Id, which PayPal answers
// with the first result. Webhooks are verified by PayPal's own
// verify-webhook-signature API with the delivery's exact bytes, and their
// transmission time is held against the injected time ± tolerance.
//
// With a payee account the order names it as payee (merchant_id) and puts
// the platform fee in payment_instruction.platform_fees (PayPal Commerce
// Platform); the operator is then the merchant of record.
package paypal
