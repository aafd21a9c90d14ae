package ocpp

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	libocpp "github.com/lorenzodonini/ocpp-go/ocpp"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/core"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/smartcharging"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/types"
	"github.com/lorenzodonini/ocpp-go/ocppj"
)

func TestCallErrorCodes(t *testing.T) {
	call := func(action string) []any { return []any{float64(ocppj.CALL), "u1", action, map[string]any{}} }
	for _, tc := range []struct {
		name   string
		in     ocpp16Err
		fields []any
		want   libocpp.ErrorCode
	}{
		{"unknown action", ocpp16Err{ocppj.NotSupported}, call("BrewCoffee"), ocppj.NotImplemented},
		{"known action not offered", ocpp16Err{ocppj.NotSupported}, call("ReserveNow"), ocppj.NotSupported},
		{"bad enumeration", ocpp16Err{ocppj.GenericError}, call("ChangeAvailability"), ocppj.PropertyConstraintViolation},
		{"missing field stays", ocpp16Err{ocppj.OccurrenceConstraintViolation}, call("RemoteStartTransaction"), ocppj.OccurrenceConstraintViolation},
		{"a result is left alone", ocpp16Err{ocppj.GenericError}, []any{float64(ocppj.CALL_RESULT), "u1", map[string]any{}}, ocppj.GenericError},
		{"short message", ocpp16Err{ocppj.FormatViolationV16}, []any{float64(2)}, ocppj.FormatViolationV16},
	} {
		got := callError(libocpp.NewError(tc.in.code, "x", "u1"), "", tc.fields)
		if got.Code != tc.want || got.MessageId != "u1" {
			t.Errorf("%s: %s (%s), want %s", tc.name, got.Code, got.MessageId, tc.want)
		}
	}
}

type ocpp16Err struct{ code libocpp.ErrorCode }

// A TxProfile of 10 A becomes the point's "ocpp" limit while its
// transaction runs, and goes with it.
func TestChargingProfileBecomesLimit(t *testing.T) {
	c, lim, pts, clk := newTestClient(t, filepath.Join(t.TempDir(), "s.json"))
	h := &handler{c: c}
	ctx := context.Background()
	pts.set(func(v *PointView) { v.State = "C" })
	if conf, _ := h.OnSetChargingProfile(&smartcharging.SetChargingProfileRequest{ConnectorId: 1, ChargingProfile: txProfile(10)}); conf.Status != smartcharging.ChargingProfileStatusRejected {
		t.Fatalf("a TxProfile without a transaction: %s, want Rejected", conf.Status)
	}
	h.OnRemoteStartTransaction(&core.RemoteStartTransactionRequest{IdTag: "T"})
	c.step(ctx, clk.Now())
	if conf, _ := h.OnSetChargingProfile(&smartcharging.SetChargingProfileRequest{ConnectorId: 1, ChargingProfile: txProfile(10)}); conf.Status != smartcharging.ChargingProfileStatusAccepted {
		t.Fatalf("SetChargingProfile: %s", conf.Status)
	}
	max := types.NewChargingProfile(2, 0, types.ChargingProfilePurposeChargePointMaxProfile, types.ChargingProfileKindAbsolute,
		types.NewChargingSchedule(types.ChargingRateUnitWatts, types.ChargingSchedulePeriod{StartPeriod: 0, Limit: 5520}))
	if conf, _ := h.OnSetChargingProfile(&smartcharging.SetChargingProfileRequest{ConnectorId: 0, ChargingProfile: max}); conf.Status != smartcharging.ChargingProfileStatusAccepted {
		t.Fatalf("ChargePointMaxProfile: %s", conf.Status)
	}
	clk.Advance(time.Second)
	c.step(ctx, clk.Now())
	if v, ok := lim.get(SourceOCPP); !ok || v != 8000 { // 5520 W on 3 phases at 230 V = 8 A, below the TxProfile's 10 A
		t.Fatalf("ocpp limit %d mA (%v), want 8000", v, ok)
	}
	comp, _ := h.OnGetCompositeSchedule(&smartcharging.GetCompositeScheduleRequest{ConnectorId: 1, Duration: 3600, ChargingRateUnit: types.ChargingRateUnitAmperes})
	if comp.Status != smartcharging.GetCompositeScheduleStatusAccepted || comp.ChargingSchedule == nil || comp.ChargingSchedule.ChargingSchedulePeriod[0].Limit != 8 {
		t.Fatalf("composite: %+v", comp)
	}
	one := 2
	if conf, _ := h.OnClearChargingProfile(&smartcharging.ClearChargingProfileRequest{Id: &one}); conf.Status != smartcharging.ClearChargingProfileStatusAccepted {
		t.Fatalf("clear: %s", conf.Status)
	}
	clk.Advance(time.Second)
	c.step(ctx, clk.Now())
	if v, _ := lim.get(SourceOCPP); v != 10000 {
		t.Fatalf("after clearing the max profile: %d mA, want 10000", v)
	}
	pts.set(func(v *PointView) { v.State = "A" })
	c.step(ctx, clk.Now())
	if v, ok := lim.get(SourceOCPP); ok {
		t.Fatalf("the TxProfile outlived its transaction: %d mA", v)
	}
}

func txProfile(a float64) *types.ChargingProfile {
	return types.NewChargingProfile(1, 0, types.ChargingProfilePurposeTxProfile, types.ChargingProfileKindRelative,
		types.NewChargingSchedule(types.ChargingRateUnitAmperes, types.ChargingSchedulePeriod{StartPeriod: 0, Limit: a}))
}

func TestConfigurationKeys(t *testing.T) {
	file := filepath.Join(t.TempDir(), "s.json")
	c, _, _, _ := newTestClient(t, file)
	h := &handler{c: c}
	conf, _ := h.OnGetConfiguration(&core.GetConfigurationRequest{Key: []string{"MeterValueSampleInterval", "NumberOfConnectors", "Nope"}})
	if len(conf.ConfigurationKey) != 2 || *conf.ConfigurationKey[0].Value != "60" || !conf.ConfigurationKey[1].Readonly || len(conf.UnknownKey) != 1 {
		t.Fatalf("GetConfiguration: %+v", conf)
	}
	for _, tc := range []struct{ key, value, want string }{
		{"MeterValueSampleInterval", "15", keyAccepted},
		{"MeterValueSampleInterval", "soon", keyRejected},
		{"MeterValuesSampledData", "Energy.Active.Import.Register,Current.Import", keyAccepted},
		{"MeterValuesSampledData", "Temperature", keyRejected},
		{"NumberOfConnectors", "2", keyRejected},
		{"Nope", "1", keyNotSupported},
	} {
		if r, _ := h.OnChangeConfiguration(&core.ChangeConfigurationRequest{Key: tc.key, Value: tc.value}); string(r.Status) != tc.want {
			t.Errorf("ChangeConfiguration %s=%s: %s, want %s", tc.key, tc.value, r.Status, tc.want)
		}
	}
	// The change survives a restart and takes effect.
	c2, _, _, _ := newTestClient(t, file)
	if c2.keys.sampleInterval() != 15*time.Second {
		t.Errorf("sample interval after restart: %s", c2.keys.sampleInterval())
	}
	if r, _ := h.OnUnlockConnector(&core.UnlockConnectorRequest{ConnectorId: 1}); r.Status != core.UnlockStatusUnlockFailed {
		// newTestClient's point has no fixed cable configured
		t.Errorf("unlock: %s", r.Status)
	}
	if r, _ := h.OnDataTransfer(&core.DataTransferRequest{VendorId: "x"}); r.Status != core.DataTransferStatusUnknownVendorId {
		t.Errorf("data transfer: %s", r.Status)
	}
}
