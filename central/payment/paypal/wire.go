package paypal

// The JSON of PayPal's REST API that the adapter speaks, exported so that
// paypaltest serves the very same shapes; unknown fields are ignored.

// Money is PayPal's amount: an ISO 4217 code and a decimal string.
type Money struct {
	CurrencyCode string `json:"currency_code"`
	Value        string `json:"value"`
}

// Link is a HATEOAS link (rel "approve" or "payer-action" is where the
// driver approves).
type Link struct {
	Href   string `json:"href"`
	Rel    string `json:"rel"`
	Method string `json:"method,omitempty"`
}

// Order is a Checkout order (Orders v2).
type Order struct {
	ID            string         `json:"id"`
	Intent        string         `json:"intent,omitempty"`
	Status        string         `json:"status"` // CREATED, PAYER_ACTION_REQUIRED, APPROVED, COMPLETED, VOIDED
	PurchaseUnits []PurchaseUnit `json:"purchase_units"`
	Links         []Link         `json:"links,omitempty"`
}

// PurchaseUnit is the one unit parkgrid puts on an order.
type PurchaseUnit struct {
	ReferenceID        string              `json:"reference_id,omitempty"`
	CustomID           string              `json:"custom_id,omitempty"`
	Description        string              `json:"description,omitempty"`
	Amount             Money               `json:"amount"`
	Payee              *Payee              `json:"payee,omitempty"`
	PaymentInstruction *PaymentInstruction `json:"payment_instruction,omitempty"`
	Payments           *Payments           `json:"payments,omitempty"`
}

// Payee names the operator's PayPal merchant account.
type Payee struct {
	MerchantID string `json:"merchant_id"`
}

// PaymentInstruction carries the platform fee.
type PaymentInstruction struct {
	PlatformFees []PlatformFee `json:"platform_fees,omitempty"`
}

// PlatformFee is the platform's cut.
type PlatformFee struct {
	Amount Money `json:"amount"`
}

// Payments are what happened to a purchase unit's money.
type Payments struct {
	Authorizations []Authorization `json:"authorizations,omitempty"`
	Captures       []Capture       `json:"captures,omitempty"`
	Refunds        []Refund        `json:"refunds,omitempty"`
}

// Authorization is a placed hold: CREATED, CAPTURED, PARTIALLY_CAPTURED,
// VOIDED, EXPIRED, DENIED.
type Authorization struct {
	ID             string `json:"id"`
	Status         string `json:"status"`
	Amount         Money  `json:"amount"`
	ExpirationTime string `json:"expiration_time,omitempty"` // RFC 3339
}

// Capture is taken money: COMPLETED, PENDING, REFUNDED, PARTIALLY_REFUNDED.
type Capture struct {
	ID           string `json:"id"`
	Status       string `json:"status"`
	Amount       Money  `json:"amount"`
	FinalCapture bool   `json:"final_capture"`
}

// Refund is given-back money: COMPLETED, PENDING.
type Refund struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Amount Money  `json:"amount"`
}

// CaptureRequest is the body of an authorization capture.
type CaptureRequest struct {
	Amount             Money               `json:"amount"`
	FinalCapture       bool                `json:"final_capture"`
	PaymentInstruction *PaymentInstruction `json:"payment_instruction,omitempty"`
}

// RefundRequest is the body of a capture refund.
type RefundRequest struct {
	Amount      Money  `json:"amount"`
	NoteToPayer string `json:"note_to_payer,omitempty"`
}

// Token is the OAuth2 client-credentials answer.
type Token struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"` // seconds
}

// APIError is PayPal's error body.
type APIError struct {
	Name    string        `json:"name"`
	Message string        `json:"message"`
	DebugID string        `json:"debug_id"`
	Details []ErrorDetail `json:"details,omitempty"`
}

// ErrorDetail names the issue, e.g. AUTHORIZATION_ALREADY_CAPTURED.
type ErrorDetail struct {
	Issue       string `json:"issue"`
	Description string `json:"description,omitempty"`
}

// VerifyRequest is the body of /v1/notifications/verify-webhook-signature;
// WebhookEvent holds the delivery's exact bytes.
type VerifyRequest struct {
	AuthAlgo         string  `json:"auth_algo"`
	CertURL          string  `json:"cert_url"`
	TransmissionID   string  `json:"transmission_id"`
	TransmissionSig  string  `json:"transmission_sig"`
	TransmissionTime string  `json:"transmission_time"`
	WebhookID        string  `json:"webhook_id"`
	WebhookEvent     RawJSON `json:"webhook_event"`
}

// VerifyResponse says SUCCESS or FAILURE.
type VerifyResponse struct {
	VerificationStatus string `json:"verification_status"`
}

// WebhookEvent is the part of a delivery the adapter reads.
type WebhookEvent struct {
	ID         string `json:"id"`
	EventType  string `json:"event_type"`
	CreateTime string `json:"create_time"`
	Resource   struct {
		ID                string `json:"id"`
		Amount            Money  `json:"amount"`
		SupplementaryData struct {
			RelatedIDs struct {
				OrderID string `json:"order_id"`
			} `json:"related_ids"`
		} `json:"supplementary_data"`
	} `json:"resource"`
}

// RawJSON is JSON sent exactly as received (json.RawMessage that also
// marshals from a value receiver).
type RawJSON []byte

// MarshalJSON implements json.Marshaler.
func (r RawJSON) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (r *RawJSON) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)
	return nil
}

// Webhook headers PayPal signs a delivery with.
const (
	HeaderAuthAlgo         = "Paypal-Auth-Algo"
	HeaderCertURL          = "Paypal-Cert-Url"
	HeaderTransmissionID   = "Paypal-Transmission-Id"
	HeaderTransmissionSig  = "Paypal-Transmission-Sig"
	HeaderTransmissionTime = "Paypal-Transmission-Time"
	HeaderRequestID        = "PayPal-Request-Id"
)
