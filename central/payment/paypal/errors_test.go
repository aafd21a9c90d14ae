package paypal

import (
	"errors"
	"net/http"
	"testing"

	"github.com/parkgrid/parkgrid/central/payment"
)

func TestAPIErrorsMapToSentinels(t *testing.T) {
	body := func(name, issue string) []byte {
		return []byte(`{"name":"` + name + `","message":"m","debug_id":"d","details":[{"issue":"` + issue + `"}]}`)
	}
	tests := []struct {
		status int
		body   []byte
		want   error
	}{
		{404, body("RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID"), payment.ErrNotFound},
		{422, body("UNPROCESSABLE_ENTITY", "ORDER_NOT_APPROVED"), payment.ErrState},
		{422, body("UNPROCESSABLE_ENTITY", "AUTHORIZATION_ALREADY_CAPTURED"), payment.ErrState},
		{422, body("UNPROCESSABLE_ENTITY", "AUTHORIZATION_EXPIRED"), payment.ErrState},
		{422, body("UNPROCESSABLE_ENTITY", "MAX_CAPTURE_AMOUNT_EXCEEDED"), payment.ErrExceedsHold},
		{422, body("UNPROCESSABLE_ENTITY", "REFUND_AMOUNT_EXCEEDED"), payment.ErrExceedsHold},
		{422, body("UNPROCESSABLE_ENTITY", "INSTRUMENT_DECLINED"), payment.ErrDeclined},
		{400, body("INVALID_REQUEST", "DECIMAL_PRECISION"), payment.ErrInvalid},
		{400, []byte("not json"), payment.ErrInvalid},
	}
	for _, tc := range tests {
		if err := apiErr(tc.status, tc.body); !errors.Is(err, tc.want) {
			t.Errorf("%d %s: %v, want %v", tc.status, tc.body, err, tc.want)
		}
	}
	err := apiErr(http.StatusInternalServerError, body("INTERNAL_SERVER_ERROR", ""))
	for _, s := range []error{payment.ErrInvalid, payment.ErrState, payment.ErrNotFound} {
		if errors.Is(err, s) {
			t.Errorf("500 maps to %v", s)
		}
	}
}
