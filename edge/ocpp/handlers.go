package ocpp

import (
	"math"
	"time"

	libocpp "github.com/lorenzodonini/ocpp-go/ocpp"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/core"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/remotetrigger"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/smartcharging"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/types"
	"github.com/lorenzodonini/ocpp-go/ocppj"
)

// handler answers the CSMS's requests. The library calls it on its own
// goroutine; every answer is decided under the client's lock and the work
// it implies is left to the point loop or the link.
type handler struct{ c *Client }

var (
	_ core.ChargePointHandler          = (*handler)(nil)
	_ remotetrigger.ChargePointHandler = (*handler)(nil)
	_ smartcharging.ChargePointHandler = (*handler)(nil)
)

func (h *handler) now() time.Time { return h.c.clk.Now() }

// OnChangeAvailability: Inoperative closes the point (after its
// transaction: Scheduled), Operative opens it again.
func (h *handler) OnChangeAvailability(r *core.ChangeAvailabilityRequest) (*core.ChangeAvailabilityConfirmation, error) {
	if r.ConnectorId > connector {
		return core.NewChangeAvailabilityConfirmation(core.AvailabilityStatusRejected), nil
	}
	c := h.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.st.Inoperative = r.Type == core.AvailabilityTypeInoperative
	c.persist()
	c.kick()
	if c.st.Tx != nil && c.st.Inoperative {
		return core.NewChangeAvailabilityConfirmation(core.AvailabilityStatusScheduled), nil
	}
	return core.NewChangeAvailabilityConfirmation(core.AvailabilityStatusAccepted), nil
}

func (h *handler) OnChangeConfiguration(r *core.ChangeConfigurationRequest) (*core.ChangeConfigurationConfirmation, error) {
	c := h.c
	status := c.keys.set(r.Key, r.Value)
	if status == keyAccepted {
		c.mu.Lock()
		c.st.Config = c.keys.changed()
		c.persist()
		c.mu.Unlock()
		c.kick() // a new heartbeat interval takes effect
	}
	return core.NewChangeConfigurationConfirmation(core.ConfigurationStatus(status)), nil
}

func (h *handler) OnClearCache(*core.ClearCacheRequest) (*core.ClearCacheConfirmation, error) {
	// No authorisation cache: nothing to clear.
	return core.NewClearCacheConfirmation(core.ClearCacheStatusAccepted), nil
}

// OnDataTransfer: no vendor extension is known.
func (h *handler) OnDataTransfer(*core.DataTransferRequest) (*core.DataTransferConfirmation, error) {
	return core.NewDataTransferConfirmation(core.DataTransferStatusUnknownVendorId), nil
}

func (h *handler) OnGetConfiguration(r *core.GetConfigurationRequest) (*core.GetConfigurationConfirmation, error) {
	k := h.c.keys
	names := r.Key
	if len(names) == 0 {
		names = k.names()
	}
	var known []core.ConfigurationKey
	var unknown []string
	for _, n := range names {
		v, ro, ok := k.get(n)
		if !ok {
			unknown = append(unknown, n)
			continue
		}
		known = append(known, core.ConfigurationKey{Key: n, Readonly: ro, Value: &v})
	}
	conf := core.NewGetConfigurationConfirmation(known)
	conf.UnknownKey = unknown
	return conf, nil
}

// OnRemoteStartTransaction authorises a start: the transaction starts
// when a car is (or, within ConnectionTimeOut, gets) plugged in.
func (h *handler) OnRemoteStartTransaction(r *core.RemoteStartTransactionRequest) (*core.RemoteStartTransactionConfirmation, error) {
	c := h.c
	reject := core.NewRemoteStartTransactionConfirmation(types.RemoteStartStopStatusRejected)
	if r.ConnectorId != nil && *r.ConnectorId != connector {
		return reject, nil
	}
	var prof *Profile
	if r.ChargingProfile != nil {
		if r.ChargingProfile.ChargingProfilePurpose != types.ChargingProfilePurposeTxProfile {
			return reject, nil
		}
		p, err := fromOCPP(r.ChargingProfile, h.now())
		if err != nil {
			return reject, nil
		}
		prof = &p
	}
	now := h.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st.Tx != nil || c.st.Inoperative || c.status[0] == StatusFaulted {
		return reject, nil
	}
	c.auth.idTag, c.auth.expires, c.auth.profile = r.IdTag, now.Add(c.keys.connectionTimeout()), prof
	c.log.Info("ocpp: remote start authorised", "id_tag_len", len(r.IdTag))
	return core.NewRemoteStartTransactionConfirmation(types.RemoteStartStopStatusAccepted), nil
}

func (h *handler) OnRemoteStopTransaction(r *core.RemoteStopTransactionRequest) (*core.RemoteStopTransactionConfirmation, error) {
	c := h.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st.Tx == nil || c.st.Tx.Stopping {
		return core.NewRemoteStopTransactionConfirmation(types.RemoteStartStopStatusRejected), nil
	}
	if id, ok := c.st.TxIDs[c.st.Tx.LocalID]; !ok || id != r.TransactionId {
		return core.NewRemoteStopTransactionConfirmation(types.RemoteStartStopStatusRejected), nil
	}
	c.stopReason = string(core.ReasonRemote)
	return core.NewRemoteStopTransactionConfirmation(types.RemoteStartStopStatusAccepted), nil
}

// OnReset stops the transaction (reason SoftReset/HardReset) and makes
// the point register again; the edge itself does not restart.
func (h *handler) OnReset(r *core.ResetRequest) (*core.ResetConfirmation, error) {
	c := h.c
	c.mu.Lock()
	if c.st.Tx != nil {
		c.stopReason = string(core.ReasonSoftReset)
		if r.Type == core.ResetTypeHard {
			c.stopReason = string(core.ReasonHardReset)
		}
	}
	c.mu.Unlock()
	select {
	case c.resetC <- string(r.Type):
	default:
	}
	return core.NewResetConfirmation(core.ResetStatusAccepted), nil
}

// OnUnlockConnector: a fixed cable has no lock to open; the register maps
// parkgrid drives document no lock actuator either.
func (h *handler) OnUnlockConnector(r *core.UnlockConnectorRequest) (*core.UnlockConnectorConfirmation, error) {
	if h.c.cfg.FixedCable || r.ConnectorId != connector {
		return core.NewUnlockConnectorConfirmation(core.UnlockStatusNotSupported), nil
	}
	return core.NewUnlockConnectorConfirmation(core.UnlockStatusUnlockFailed), nil
}

func (h *handler) OnTriggerMessage(r *remotetrigger.TriggerMessageRequest) (*remotetrigger.TriggerMessageConfirmation, error) {
	switch r.RequestedMessage {
	case core.BootNotificationFeatureName, core.HeartbeatFeatureName, core.StatusNotificationFeatureName, core.MeterValuesFeatureName:
	default:
		return remotetrigger.NewTriggerMessageConfirmation(remotetrigger.TriggerMessageStatusNotImplemented), nil
	}
	if r.ConnectorId != nil && *r.ConnectorId > connector {
		return remotetrigger.NewTriggerMessageConfirmation(remotetrigger.TriggerMessageStatusRejected), nil
	}
	select {
	case h.c.trigger <- string(r.RequestedMessage):
		return remotetrigger.NewTriggerMessageConfirmation(remotetrigger.TriggerMessageStatusAccepted), nil
	default:
		return remotetrigger.NewTriggerMessageConfirmation(remotetrigger.TriggerMessageStatusRejected), nil
	}
}

func (h *handler) OnSetChargingProfile(r *smartcharging.SetChargingProfileRequest) (*smartcharging.SetChargingProfileConfirmation, error) {
	c := h.c
	rejected := smartcharging.NewSetChargingProfileConfirmation(smartcharging.ChargingProfileStatusRejected)
	if r.ConnectorId > connector {
		return rejected, nil
	}
	p, err := fromOCPP(r.ChargingProfile, h.now())
	if err != nil {
		c.log.Warn("ocpp: charging profile rejected", "err", err)
		return rejected, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := p.Check(r.ConnectorId, c.txInfoLocked()); err != nil {
		c.log.Warn("ocpp: charging profile rejected", "err", err)
		return rejected, nil
	}
	ps, err := Install(c.st.Profiles, p)
	if err != nil {
		c.log.Warn("ocpp: charging profile rejected", "err", err)
		return rejected, nil
	}
	c.st.Profiles = ps
	c.persist()
	c.log.Info("ocpp: charging profile installed", "profile", p.ID, "purpose", p.Purpose, "stack", p.StackLevel)
	return smartcharging.NewSetChargingProfileConfirmation(smartcharging.ChargingProfileStatusAccepted), nil
}

func (h *handler) OnClearChargingProfile(r *smartcharging.ClearChargingProfileRequest) (*smartcharging.ClearChargingProfileConfirmation, error) {
	c := h.c
	if r.ConnectorId != nil && *r.ConnectorId > connector {
		return smartcharging.NewClearChargingProfileConfirmation(smartcharging.ClearChargingProfileStatusUnknown), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, n := Clear(c.st.Profiles, ClearFilter{ID: r.Id, Purpose: string(r.ChargingProfilePurpose), StackLevel: r.StackLevel})
	if n == 0 {
		return smartcharging.NewClearChargingProfileConfirmation(smartcharging.ClearChargingProfileStatusUnknown), nil
	}
	c.st.Profiles = ps
	c.persist()
	return smartcharging.NewClearChargingProfileConfirmation(smartcharging.ClearChargingProfileStatusAccepted), nil
}

func (h *handler) OnGetCompositeSchedule(r *smartcharging.GetCompositeScheduleRequest) (*smartcharging.GetCompositeScheduleConfirmation, error) {
	c := h.c
	if r.ConnectorId > connector {
		return smartcharging.NewGetCompositeScheduleConfirmation(smartcharging.GetCompositeScheduleStatusRejected), nil
	}
	now := h.now().UTC().Truncate(time.Second)
	v, _ := c.cfg.Points.View(c.cfg.Point, now)
	phases := v.Phases
	c.mu.Lock()
	periods := Composite(c.st.Profiles, now, time.Duration(r.Duration)*time.Second, c.txInfoLocked(), phases, r.ChargingRateUnit == types.ChargingRateUnitWatts, v.MaxMA)
	c.mu.Unlock()
	unit := types.ChargingRateUnitAmperes
	if r.ChargingRateUnit == types.ChargingRateUnitWatts {
		unit = types.ChargingRateUnitWatts
	}
	sched := types.NewChargingSchedule(unit)
	sched.ChargingSchedulePeriod = []types.ChargingSchedulePeriod{}
	for _, p := range periods {
		sched.ChargingSchedulePeriod = append(sched.ChargingSchedulePeriod, types.ChargingSchedulePeriod{
			StartPeriod: int(p.Start / time.Second), Limit: float64(p.Milli/100) / 10})
	}
	dur := r.Duration
	sched.Duration = &dur
	sched.StartSchedule = types.NewDateTime(now)
	conf := smartcharging.NewGetCompositeScheduleConfirmation(smartcharging.GetCompositeScheduleStatusAccepted)
	id := r.ConnectorId
	conf.ConnectorId = &id
	conf.ScheduleStart = types.NewDateTime(now)
	if len(sched.ChargingSchedulePeriod) > 0 {
		conf.ChargingSchedule = sched
	}
	return conf, nil
}

// fromOCPP converts a profile from the wire; received is when it came
// (the start of an Absolute profile that names none).
func fromOCPP(cp *types.ChargingProfile, received time.Time) (Profile, error) {
	if cp == nil || cp.ChargingSchedule == nil {
		return Profile{}, ErrProfile
	}
	s := cp.ChargingSchedule
	p := Profile{ID: cp.ChargingProfileId, TxID: cp.TransactionId, StackLevel: cp.StackLevel,
		Purpose: string(cp.ChargingProfilePurpose), Kind: string(cp.ChargingProfileKind), Recurrency: string(cp.RecurrencyKind),
		UnitW: s.ChargingRateUnit == types.ChargingRateUnitWatts}
	if cp.ValidFrom != nil {
		p.ValidFrom = cp.ValidFrom.Time
	}
	if cp.ValidTo != nil {
		p.ValidTo = cp.ValidTo.Time
	}
	if s.StartSchedule != nil {
		p.Start = s.StartSchedule.Time
	} else if p.Kind == KindAbsolute {
		p.Start = received
	}
	if s.Duration != nil {
		p.Duration = time.Duration(*s.Duration) * time.Second
	}
	for _, pd := range s.ChargingSchedulePeriod {
		if pd.Limit < 0 || pd.Limit > 1e9 || math.IsNaN(pd.Limit) {
			return Profile{}, ErrProfile
		}
		q := Period{Start: time.Duration(pd.StartPeriod) * time.Second, Milli: int64(math.Round(pd.Limit * 1000))}
		if pd.NumberPhases != nil {
			q.Phases = *pd.NumberPhases
		}
		p.Periods = append(p.Periods, q)
	}
	return p, nil
}

// knownActions are the OCPP 1.6J actions a central system may send; an
// action outside this list gets NotImplemented, one in it that parkgrid
// does not offer NotSupported.
var knownActions = map[string]bool{
	"CancelReservation": true, "ChangeAvailability": true, "ChangeConfiguration": true, "ClearCache": true,
	"ClearChargingProfile": true, "DataTransfer": true, "GetCompositeSchedule": true, "GetConfiguration": true,
	"GetDiagnostics": true, "GetLocalListVersion": true, "RemoteStartTransaction": true, "RemoteStopTransaction": true,
	"ReserveNow": true, "Reset": true, "SendLocalList": true, "SetChargingProfile": true, "TriggerMessage": true,
	"UnlockConnector": true, "UpdateFirmware": true,
}

// callError corrects the library's CALLERROR for a call it could not
// take: an unknown action is NotImplemented (the library says
// NotSupported), a field value outside its enumeration a
// PropertyConstraintViolation (the library says GenericError), an unknown
// message type FormationViolation (the library gives a 2.0.1 code).
func callError(err *libocpp.Error, _ string, fields []any) *libocpp.Error {
	if err.Code == ocppj.MessageTypeNotSupported {
		// An OCPP 2.0.1 code: in 1.6 a message of an unknown type does not
		// conform to the PDU structure.
		return libocpp.NewError(ocppj.FormatViolationV16, err.Description, err.MessageId)
	}
	if len(fields) < 3 {
		return err
	}
	if t, _ := fields[0].(float64); t != float64(ocppj.CALL) {
		return err
	}
	action, _ := fields[2].(string)
	switch {
	case err.Code == ocppj.NotSupported && !knownActions[action]:
		return libocpp.NewError(ocppj.NotImplemented, "unknown action "+trim50(action), err.MessageId)
	case err.Code == ocppj.GenericError:
		return libocpp.NewError(ocppj.PropertyConstraintViolation, err.Description, err.MessageId)
	}
	return err
}
