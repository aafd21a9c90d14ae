package ocpp

import (
	"testing"

	libocpp "github.com/lorenzodonini/ocpp-go/ocpp"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/core"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/remotetrigger"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/smartcharging"
	"github.com/lorenzodonini/ocpp-go/ocppj"
	"github.com/lorenzodonini/ocpp-go/ws"
)

// FuzzIncoming feeds a CSMS's bytes through the parsing the point's
// connection does (ocpp-go's OCPP-J parser with the profiles the point
// offers, then callError): no input may panic (a panic there would stop
// the edge), and a call that cannot be taken gets an error with the
// call's id and an OCPP-J 1.6 error code.
func FuzzIncoming(f *testing.F) {
	for _, s := range []string{
		`[2,"1","RemoteStartTransaction",{"idTag":"A"}]`,
		`[2,"2","RemoteStartTransaction",{}]`,
		`[2,"3","BrewCoffee",{}]`,
		`[2,"4","ChangeAvailability",{"connectorId":1,"type":"Sideways"}]`,
		`[2,"5","SetChargingProfile",{"connectorId":1,"csChargingProfiles":{"chargingProfileId":1,"stackLevel":0,"chargingProfilePurpose":"TxProfile","chargingProfileKind":"Relative","chargingSchedule":{"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":10}]}}}]`,
		`[2,"6","GetCompositeSchedule",{"connectorId":"one","duration":60}]`,
		`[3,"7",{}]`, `[4,"8","GenericError","x",{}]`, `[2]`, `{}`, `not json`, `[2,"",null,null]`,
	} {
		f.Add([]byte(s))
	}
	endpoint := ocppj.NewClient("CP1", ws.NewClient(), nil, nil, core.Profile, remotetrigger.Profile, smartcharging.Profile)
	endpoint.SetDialect(libocpp.V16)
	codes := map[libocpp.ErrorCode]bool{ocppj.NotImplemented: true, ocppj.NotSupported: true, ocppj.InternalError: true,
		ocppj.ProtocolError: true, ocppj.SecurityError: true, ocppj.FormatViolationV16: true, ocppj.PropertyConstraintViolation: true,
		ocppj.OccurrenceConstraintViolation: true, ocppj.TypeConstraintViolation: true, ocppj.GenericError: true}
	f.Fuzz(func(t *testing.T, b []byte) {
		fields, err := ocppj.ParseRawJsonMessage(b)
		if err != nil {
			return // not a JSON array: no id to answer
		}
		_, err = endpoint.ParseMessage(fields, endpoint.RequestState)
		if err == nil {
			return
		}
		oerr, ok := err.(*libocpp.Error)
		if !ok {
			t.Fatalf("%s: error %T %v, want *ocpp.Error", b, err, err)
		}
		out := callError(oerr, string(b), fields)
		if out == nil || !codes[out.Code] {
			t.Fatalf("%s: CALLERROR code %v", b, out)
		}
	})
}
