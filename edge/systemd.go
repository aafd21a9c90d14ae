package edge

import (
	"log/slog"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
)

// systemd. The edge tells systemd it is ready once every worker runs
// (Type=notify) and, on every control step, that it is alive (WatchdogSec=):
// only while the safety watcher keeps checking too, so a hung safety or a
// hung control loop lets systemd kill and restart the edge. Outside systemd
// (no NOTIFY_SOCKET) nothing is sent.

// safetyAliveWithin: the safety watcher checks every 100 ms; one that has
// not checked for this long is hung.
const safetyAliveWithin = 2 * time.Second

// notifier sends sd_notify states.
type notifier struct {
	send func(state string) // nil: sd_notify
	log  *slog.Logger
}

func (n notifier) notify(state string) {
	if n.send != nil {
		n.send(state)
		return
	}
	if _, err := sddaemon.SdNotify(false, state); err != nil {
		n.log.Warn("systemd notify failed", "state", state, "err", err)
	}
}

// ready says the edge runs.
func (n notifier) ready() { n.notify(sddaemon.SdNotifyReady) }

// stopping says the edge is shutting down.
func (n notifier) stopping() { n.notify(sddaemon.SdNotifyStopping) }

// alive pets the watchdog from a control step at now if safety last checked
// at lastCheck, recently enough.
func (n notifier) alive(now, lastCheck time.Time) {
	if lastCheck.IsZero() || now.Sub(lastCheck) > safetyAliveWithin {
		return
	}
	n.notify(sddaemon.SdNotifyWatchdog)
}
