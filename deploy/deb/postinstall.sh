#!/bin/sh
# Lets systemd see the units; enables nothing: the operator writes
# /etc/parkgrid/site.yaml or central.yaml first (examples in
# /etc/parkgrid/examples), then: systemctl enable --now parkgrid-edge
set -e
chown -R parkgrid:parkgrid /var/lib/parkgrid 2>/dev/null || true
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
