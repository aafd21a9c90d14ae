package ocpp

import (
	"context"
	"strconv"
	"time"

	"github.com/lorenzodonini/ocpp-go/ocpp1.6/core"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/types"

	"github.com/parkgrid/parkgrid/drivers"
)

// Message actions in the queue.
const (
	actStart       = "StartTransaction"
	actStop        = "StopTransaction"
	actMeterValues = "MeterValues"
)

// connector is the one connector each parkgrid charge point has.
const connector = 1

// runPoint looks at the point every Tick: starts and stops transactions,
// samples meter values, applies the profiles' limit and notes status
// changes for the link.
func (c *Client) runPoint(ctx context.Context) {
	c.mu.Lock()
	open := c.st.Tx != nil
	c.mu.Unlock()
	c.setAccess(open)
	ticker, tick := c.clk.NewTicker(c.cfg.Tick)
	defer ticker.Stop()
	for {
		c.step(ctx, c.clk.Now())
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
	}
}

// setAccess opens the point (no access limit) or closes it (0 mA).
func (c *Client) setAccess(open bool) {
	c.mu.Lock()
	same := c.accessOpen != nil && *c.accessOpen == open
	c.mu.Unlock()
	if same {
		return
	}
	var err error
	if open {
		err = c.cfg.Limiter.ClearPointLimit(c.cfg.Point, SourceAccess)
	} else {
		err = c.cfg.Limiter.SetPointLimit(c.cfg.Point, SourceAccess, 0, time.Time{})
	}
	if err != nil {
		c.log.Error("ocpp: access limit not applied; trying again", "open", open, "err", err)
		return
	}
	c.mu.Lock()
	c.accessOpen = &open
	c.mu.Unlock()
}

// step does one look at the point.
func (c *Client) step(ctx context.Context, now time.Time) {
	v, ok := c.cfg.Points.View(c.cfg.Point, now)
	if !ok {
		v = PointView{State: "?", ControllerStale: true}
	}
	plugged := !v.ControllerStale && (v.State == "B" || v.State == "C" || v.State == "D")
	c.mu.Lock()
	tx := c.st.Tx
	switch {
	case tx == nil && c.auth.idTag != "" && now.After(c.auth.expires):
		c.log.Info("ocpp: authorisation expired before a car was plugged in", "timeout", c.keys.connectionTimeout())
		c.auth.idTag, c.auth.profile = "", nil
	case tx == nil && c.auth.idTag != "" && plugged && !c.st.Inoperative:
		idTag, prof := c.auth.idTag, c.auth.profile
		c.auth.idTag, c.auth.profile = "", nil
		c.mu.Unlock()
		c.startTx(ctx, now, v, idTag, prof)
		c.mu.Lock()
	case tx != nil && (c.stopReason != "" || (!v.ControllerStale && v.State == "A")):
		reason := c.stopReason
		if reason == "" {
			reason = string(core.ReasonEVDisconnected)
		}
		c.stopReason = ""
		c.mu.Unlock()
		c.stopTx(ctx, now, v, reason)
		c.mu.Lock()
	case tx != nil && now.Sub(c.lastSample) >= c.keys.sampleInterval()-c.cfg.Tick/2:
		// On the interval's cadence; a tick late or early moves no sample.
		c.lastSample = now
		c.sampleLocked(now, v)
	}
	if c.finishing && (v.State == "A" || v.ControllerStale) {
		c.finishing = false
	}
	if !plugged {
		c.stopReason = ""
	}
	txNow := c.txInfoLocked()
	profiles := c.st.Profiles
	st, code, info := ConnectorStatus(Observed{PointView: v, InTx: c.st.Tx != nil, Unavailable: c.st.Inoperative, Finishing: c.finishing})
	changed := c.status != [3]string{st, code, info}
	c.status = [3]string{st, code, info}
	// Only a running transaction opens the point (Inoperative waits for
	// its end: no new one starts).
	open := c.st.Tx != nil
	c.mu.Unlock()
	if changed {
		c.kick()
	}
	c.setAccess(open)
	c.applyProfiles(now, profiles, txNow, v.Phases)
}

// txInfoLocked is the transaction as profiles see it.
func (c *Client) txInfoLocked() Tx {
	if c.st.Tx == nil {
		return Tx{}
	}
	return Tx{Active: true, ID: c.st.TxIDs[c.st.Tx.LocalID], Start: c.st.Tx.Start}
}

// applyProfiles sets the control loop's "ocpp" limit for the period in
// force, until the period ends; it is evaluated again every tick.
func (c *Client) applyProfiles(now time.Time, ps []Profile, tx Tx, phases int) {
	mA, until, ok := Limit(ps, now, tx, phases)
	c.mu.Lock()
	same := c.applied.ok == ok && c.applied.mA == mA && c.applied.until.Equal(until)
	c.mu.Unlock()
	if same {
		return
	}
	var err error
	if ok {
		err = c.cfg.Limiter.SetPointLimit(c.cfg.Point, SourceOCPP, mA, until)
	} else {
		err = c.cfg.Limiter.ClearPointLimit(c.cfg.Point, SourceOCPP)
	}
	if err != nil {
		c.log.Error("ocpp: charging profile limit not applied; trying again", "max_ma", mA, "err", err)
		return
	}
	c.log.Info("ocpp: charging profile limit", "limited", ok, "max_ma", mA, "until", until)
	c.mu.Lock()
	c.applied.ok, c.applied.mA, c.applied.until = ok, mA, until
	c.mu.Unlock()
}

// snapshot asks the Eichrecht meter for a signed snapshot ("" without one).
func (c *Client) snapshot(ctx context.Context, kind drivers.SnapshotKind, id string) string {
	if c.cfg.Meter == nil {
		return ""
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	rec, err := c.cfg.Meter.Snapshot(sctx, kind, id)
	if err != nil {
		c.log.Error("ocpp: Eichrecht snapshot failed; the transaction goes on without its signed value", "kind", kind.String(), "err", err)
		return ""
	}
	return rec
}

// startTx starts a transaction: the begin snapshot, StartTransaction and
// the signed begin value queued (durable before current flows), then the
// point is opened.
func (c *Client) startTx(ctx context.Context, now time.Time, v PointView, idTag string, prof *Profile) {
	c.mu.Lock()
	local := c.st.NextLocal
	c.st.NextLocal++
	c.mu.Unlock()
	ocmf := c.snapshot(ctx, drivers.SnapshotBegin, idTag)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.st.Tx = &Transaction{LocalID: local, IDTag: idTag, Start: now.UTC(), MeterWh: max(v.EnergyWh, 0), BeginSD: ocmf}
	c.finishing = false
	c.lastSample = now
	c.enqueueLocked(actStart, local, core.StartTransactionRequest{ConnectorId: connector, IdTag: idTag,
		MeterStart: int(max(v.EnergyWh, 0)), Timestamp: types.NewDateTime(now.UTC())}, now)
	mv := c.meterValueLocked(now, v, types.ReadingContextTransactionBegin, ocmf)
	c.enqueueLocked(actMeterValues, local, core.MeterValuesRequest{ConnectorId: connector, MeterValue: []types.MeterValue{mv}}, now)
	if prof != nil {
		if ps, err := Install(c.st.Profiles, *prof); err == nil {
			c.st.Profiles = ps
		}
	}
	c.persist()
	c.log.Info("ocpp: transaction started", "local_tx", local, "meter_start_wh", v.EnergyWh, "signed", ocmf != "")
	c.kick()
}

// stopTx ends the transaction: the point is closed first (no current),
// then the end snapshot, and StopTransaction with the signed end value is
// queued.
func (c *Client) stopTx(ctx context.Context, now time.Time, v PointView, reason string) {
	c.mu.Lock()
	c.st.Tx.Stopping = true
	tx := *c.st.Tx
	c.mu.Unlock()
	c.setAccess(false)
	ocmf := c.snapshot(ctx, drivers.SnapshotEnd, tx.IDTag)
	c.mu.Lock()
	defer c.mu.Unlock()
	stop := max(v.EnergyWh, tx.MeterWh)
	mv := c.meterValueLocked(now, v, types.ReadingContextTransactionEnd, ocmf)
	if len(mv.SampledValue) > 0 {
		mv.SampledValue[0].Value = strconv.FormatInt(stop, 10)
	}
	c.enqueueLocked(actStop, tx.LocalID, core.StopTransactionRequest{IdTag: tx.IDTag, MeterStop: int(stop),
		Timestamp: types.NewDateTime(now.UTC()), Reason: core.Reason(reason), TransactionData: []types.MeterValue{mv}}, now)
	c.st.Tx = nil
	c.st.Profiles = DropTx(c.st.Profiles)
	c.finishing = v.State != "A"
	c.persist()
	c.log.Info("ocpp: transaction stopped", "local_tx", tx.LocalID, "reason", reason, "meter_stop_wh", stop, "signed", ocmf != "")
	c.kick()
}

// sampleLocked queues a periodic MeterValues of the running transaction.
func (c *Client) sampleLocked(now time.Time, v PointView) {
	if !v.HasMeter || v.MeterStale {
		return // no fresh reading to report
	}
	mv := c.meterValueLocked(now, v, types.ReadingContextSamplePeriodic, "")
	c.enqueueLocked(actMeterValues, c.st.Tx.LocalID, core.MeterValuesRequest{ConnectorId: connector, MeterValue: []types.MeterValue{mv}}, now)
	c.persist()
	c.kick()
}

// meterValueLocked builds one meter value: the energy register (Wh), and
// for periodic samples the measurands MeterValuesSampledData names; with
// an OCMF record the signed value too.
func (c *Client) meterValueLocked(now time.Time, v PointView, ctxt types.ReadingContext, ocmf string) types.MeterValue {
	energy := types.SampledValue{Value: strconv.FormatInt(max(v.EnergyWh, 0), 10), Context: ctxt, Measurand: types.MeasurandEnergyActiveImportRegister,
		Location: types.LocationOutlet, Unit: types.UnitOfMeasureWh}
	mv := types.MeterValue{Timestamp: types.NewDateTime(now.UTC()), SampledValue: []types.SampledValue{energy}}
	if ctxt == types.ReadingContextSamplePeriodic {
		for _, m := range c.keys.sampled() {
			switch m {
			case types.MeasurandCurrentImport:
				phases := []types.Phase{types.PhaseL1, types.PhaseL2, types.PhaseL3}
				n := 3
				if v.Phases == 1 {
					n = 1
				}
				for i := range n {
					mv.SampledValue = append(mv.SampledValue, types.SampledValue{Value: milliString(v.CurrentMA[i]), Context: ctxt,
						Measurand: types.MeasurandCurrentImport, Phase: phases[i], Location: types.LocationOutlet, Unit: types.UnitOfMeasureA})
				}
			case types.MeasurandPowerActiveImport:
				mv.SampledValue = append(mv.SampledValue, types.SampledValue{Value: strconv.FormatInt(max(v.PowerW, 0), 10), Context: ctxt,
					Measurand: types.MeasurandPowerActiveImport, Location: types.LocationOutlet, Unit: types.UnitOfMeasureW})
			case types.MeasurandCurrentOffered:
				mv.SampledValue = append(mv.SampledValue, types.SampledValue{Value: milliString(v.SetpointMA), Context: ctxt,
					Measurand: types.MeasurandCurrentOffered, Location: types.LocationOutlet, Unit: types.UnitOfMeasureA})
			}
		}
	}
	if ocmf != "" {
		mv.SampledValue = append(mv.SampledValue, types.SampledValue{Value: ocmf, Context: ctxt, Format: types.ValueFormatSignedData,
			Measurand: types.MeasurandEnergyActiveImportRegister, Location: types.LocationOutlet, Unit: types.UnitOfMeasureWh})
	}
	return mv
}

// milliString writes mA as A with three decimals.
func milliString(mA int64) string {
	neg := ""
	if mA < 0 {
		neg, mA = "-", -mA
	}
	return neg + strconv.FormatInt(mA/1000, 10) + "." + leftPad3(mA%1000)
}

func leftPad3(n int64) string {
	s := strconv.FormatInt(n, 10)
	for len(s) < 3 {
		s = "0" + s
	}
	return s
}

// enqueueLocked queues a message (the caller persists).
func (c *Client) enqueueLocked(action string, local int, payload any, now time.Time) {
	dropped, err := c.st.enqueue(action, local, payload, now)
	if err != nil {
		c.log.Error("ocpp: message not queued", "action", action, "err", err)
		return
	}
	if dropped > 0 {
		c.log.Warn("ocpp: queue full; oldest periodic meter values dropped", "dropped", dropped, "max", MaxQueue)
	}
}
