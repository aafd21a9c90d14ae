// Package paymenttest is the conformance suite every stateful
// payment.Provider runs: the fake, and the PayPal adapter against its
// in-process fake PayPal. (stripe-mock keeps no state, so the Stripe
// adapter checks request shapes instead; see payment/stripe.)
package paymenttest
