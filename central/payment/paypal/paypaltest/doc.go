// Package paypaltest is an in-process fake of the parts of PayPal's REST
// API that payment/paypal uses, with state: OAuth2 client credentials,
// Orders v2 (create, get, authorize after the payer's approval),
// authorisations (capture up to 115 % as PayPal allows, void, expiry on
// the injected clock), capture refunds, PayPal-Request-Id replay, and
// verify-webhook-signature for deliveries it signs itself (HMAC in place
// of PayPal's certificate chain).
package paypaltest
