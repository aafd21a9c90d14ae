package ocpp

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lorenzodonini/ocpp-go/ocpp1.6/types"
)

// keys are the point's OCPP configuration keys (GetConfiguration /
// ChangeConfiguration): the standard Core and Smart Charging keys with
// the values the point really works with. Changed values are kept in the
// state file.
type keys struct {
	mu  sync.Mutex // protects vals
	def map[string]keyDef
	val map[string]string
}

// keyDef is one key: read-only or not, and a check for new values.
type keyDef struct {
	readonly bool
	value    string
	valid    func(string) bool
}

// Sampled measurands the point can report.
var measurands = []types.Measurand{types.MeasurandEnergyActiveImportRegister, types.MeasurandCurrentImport,
	types.MeasurandPowerActiveImport, types.MeasurandCurrentOffered}

func newKeys(cfg Config, changed map[string]string) *keys {
	secs := func(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }
	nonNeg := func(s string) bool { n, err := strconv.Atoi(s); return err == nil && n >= 0 }
	pos := func(s string) bool { n, err := strconv.Atoi(s); return err == nil && n > 0 }
	csl := func(s string) bool {
		for m := range strings.SplitSeq(s, ",") {
			if !slices.Contains(measurands, types.Measurand(strings.TrimSpace(m))) {
				return false
			}
		}
		return true
	}
	unlock := "true"
	if cfg.FixedCable {
		unlock = "false"
	}
	k := &keys{val: map[string]string{}, def: map[string]keyDef{
		"HeartbeatInterval":                       {value: secs(cfg.Heartbeat), valid: pos},
		"MeterValueSampleInterval":                {value: secs(cfg.SampleInterval), valid: nonNeg},
		"MeterValuesSampledData":                  {value: "Energy.Active.Import.Register,Current.Import,Power.Active.Import", valid: csl},
		"StopTxnSampledData":                      {readonly: true, value: "Energy.Active.Import.Register"},
		"MeterValuesAlignedData":                  {readonly: true, value: ""},
		"StopTxnAlignedData":                      {readonly: true, value: ""},
		"ClockAlignedDataInterval":                {readonly: true, value: "0"},
		"ConnectionTimeOut":                       {value: "120", valid: pos},
		"AuthorizeRemoteTxRequests":               {readonly: true, value: "false"}, // a RemoteStart is its own authorisation
		"LocalAuthorizeOffline":                   {readonly: true, value: "false"},
		"LocalPreAuthorize":                       {readonly: true, value: "false"},
		"AllowOfflineTxForUnknownId":              {readonly: true, value: "false"},
		"AuthorizationCacheEnabled":               {readonly: true, value: "false"},
		"StopTransactionOnEVSideDisconnect":       {readonly: true, value: "true"},
		"StopTransactionOnInvalidId":              {readonly: true, value: "true"},
		"UnlockConnectorOnEVSideDisconnect":       {readonly: true, value: unlock},
		"TransactionMessageAttempts":              {value: "3", valid: pos},
		"TransactionMessageRetryInterval":         {value: "30", valid: pos},
		"NumberOfConnectors":                      {readonly: true, value: "1"},
		"ResetRetries":                            {readonly: true, value: "0"},
		"GetConfigurationMaxKeys":                 {readonly: true, value: "64"},
		"WebSocketPingInterval":                   {readonly: true, value: "54"},
		"SupportedFeatureProfiles":                {readonly: true, value: "Core,SmartCharging,RemoteTrigger"},
		"ChargeProfileMaxStackLevel":              {readonly: true, value: strconv.Itoa(MaxStackLevel)},
		"ChargingScheduleAllowedChargingRateUnit": {readonly: true, value: "Current,Power"},
		"ChargingScheduleMaxPeriods":              {readonly: true, value: strconv.Itoa(MaxPeriods)},
		"MaxChargingProfilesInstalled":            {readonly: true, value: strconv.Itoa(MaxProfiles)},
		"ConnectorPhaseRotation":                  {readonly: true, value: "0.RST,1.RST"},
	}}
	for name, v := range changed {
		if d, ok := k.def[name]; ok && !d.readonly && d.valid(v) {
			k.val[name] = v
		}
	}
	return k
}

// Outcomes of a change (ChangeConfiguration status).
const (
	keyAccepted     = "Accepted"
	keyRejected     = "Rejected"
	keyNotSupported = "NotSupported"
)

// get returns a key's value; ok false for an unknown key.
func (k *keys) get(name string) (value string, readonly, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	d, ok := k.def[name]
	if !ok {
		return "", false, false
	}
	if v, set := k.val[name]; set {
		return v, d.readonly, true
	}
	return d.value, d.readonly, true
}

// names lists the keys in name order.
func (k *keys) names() []string {
	out := make([]string, 0, len(k.def))
	for n := range k.def {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// set changes a key; it returns the ChangeConfiguration status.
func (k *keys) set(name, value string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	d, ok := k.def[name]
	switch {
	case !ok:
		return keyNotSupported
	case d.readonly || !d.valid(value):
		return keyRejected
	}
	k.val[name] = value
	return keyAccepted
}

// changed returns the keys set by the CSMS, for the state file.
func (k *keys) changed() map[string]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make(map[string]string, len(k.val))
	for n, v := range k.val {
		out[n] = v
	}
	return out
}

func (k *keys) seconds(name string) time.Duration {
	v, _, _ := k.get(name)
	n, _ := strconv.Atoi(v)
	return time.Duration(n) * time.Second
}

func (k *keys) setHeartbeat(d time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.val["HeartbeatInterval"] = strconv.Itoa(max(int(d/time.Second), 1))
}

func (k *keys) heartbeat() time.Duration { return max(k.seconds("HeartbeatInterval"), time.Second) }

// sampleInterval: 0 switches periodic samples off.
func (k *keys) sampleInterval() time.Duration {
	d := k.seconds("MeterValueSampleInterval")
	if d <= 0 {
		return time.Duration(1<<63 - 1)
	}
	return d
}

func (k *keys) connectionTimeout() time.Duration { return k.seconds("ConnectionTimeOut") }
func (k *keys) retryInterval() time.Duration     { return k.seconds("TransactionMessageRetryInterval") }
func (k *keys) attempts() int                    { return int(k.seconds("TransactionMessageAttempts") / time.Second) }

func (k *keys) sampled() []types.Measurand {
	v, _, _ := k.get("MeterValuesSampledData")
	var out []types.Measurand
	for m := range strings.SplitSeq(v, ",") {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, types.Measurand(m))
		}
	}
	return out
}
