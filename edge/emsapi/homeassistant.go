package emsapi

import (
	"strings"
)

// discoveryMsg is one Home Assistant MQTT discovery config.
type discoveryMsg struct {
	topic  string
	config haSensor
}

// haSensor is a Home Assistant MQTT sensor config
// (https://www.home-assistant.io/integrations/sensor.mqtt/).
type haSensor struct {
	Name              string   `json:"name"`
	UniqueID          string   `json:"unique_id"`
	StateTopic        string   `json:"state_topic"`
	ValueTemplate     string   `json:"value_template"`
	UnitOfMeasurement string   `json:"unit_of_measurement"`
	DeviceClass       string   `json:"device_class"`
	StateClass        string   `json:"state_class"`
	AvailabilityTopic string   `json:"availability_topic"`
	PayloadAvailable  string   `json:"payload_available"`
	PayloadNotAvail   string   `json:"payload_not_available"`
	Device            haDevice `json:"device"`
}

type haDevice struct {
	Identifiers  []string `json:"identifiers"`
	Name         string   `json:"name"`
	Manufacturer string   `json:"manufacturer"`
	Model        string   `json:"model"`
}

// haID makes an id Home Assistant accepts in a discovery topic
// ([a-zA-Z0-9_-]).
func haID(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

// discovery returns the configs of one charge point's sensors: power (W)
// and energy (Wh), at <prefix>/sensor/<site>_<id>/<sensor>/config, so
// <site>_<id> is the node and Home Assistant groups them into one device.
func (m *MQTT) discovery(id string) []discoveryMsg {
	node := haID(m.o.Site + "_" + id)
	dev := haDevice{
		Identifiers:  []string{"parkgrid_" + node},
		Name:         "Charge point " + id + " (" + m.o.Site + ")",
		Manufacturer: "parkgrid",
		Model:        "charge point",
	}
	sensor := func(obj, name, tmpl, unit, devClass, stateClass string) discoveryMsg {
		return discoveryMsg{
			topic: m.o.DiscoveryPrefix + "/sensor/" + node + "/" + obj + "/config",
			config: haSensor{
				Name: name, UniqueID: "parkgrid_" + node + "_" + obj,
				StateTopic: m.topics.Point(id), ValueTemplate: tmpl,
				UnitOfMeasurement: unit, DeviceClass: devClass, StateClass: stateClass,
				AvailabilityTopic: m.topics.Status(), PayloadAvailable: StatusOnline, PayloadNotAvail: StatusOffline,
				Device: dev,
			},
		}
	}
	return []discoveryMsg{
		sensor("power", "Power", "{{ value_json.powerW }}", "W", "power", "measurement"),
		sensor("energy", "Energy", "{{ value_json.energyWh }}", "Wh", "energy", "total_increasing"),
	}
}
