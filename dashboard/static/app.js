// parkgrid driver app and dashboard: progressive enhancement only; every
// page works without this file.
"use strict";

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
}

// Payment method: show the code field only for access codes.
document.querySelectorAll("input[name=method]").forEach((r) => {
  const sync = () => {
    const code = document.getElementById("code-field");
    if (!code) return;
    const on = document.querySelector("input[name=method]:checked");
    code.hidden = !(on && on.value === "code");
  };
  r.addEventListener("change", sync);
  sync();
});

// Live progress over Server-Sent Events.
const live = document.getElementById("live");
if (live && live.dataset.events) {
  const set = (id, v) => { const el = document.getElementById(id); if (el) el.textContent = v; };
  const es = new EventSource(live.dataset.events);
  es.addEventListener("progress", (ev) => {
    const p = JSON.parse(ev.data);
    set("p-state", p.stateText);
    const st = document.getElementById("p-state");
    if (st) st.className = "state " + p.state;
    set("p-energy", p.energy);
    set("p-power", p.power);
    set("p-duration", p.duration);
    set("p-cost", p.cost);
    live.dataset.state = p.state;
    const stop = document.getElementById("stop-form");
    if (stop) stop.hidden = !p.stoppable;
    const rc = document.getElementById("receipt");
    if (rc) rc.hidden = !p.receipt;
    const fail = document.getElementById("p-failure");
    if (fail) { fail.textContent = p.failure || ""; fail.hidden = !p.failure; }
    if (p.final && p.receipt) es.close();
  });
}
