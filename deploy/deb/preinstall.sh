#!/bin/sh
# Creates the parkgrid system user and group the services run as.
set -e
if ! getent group parkgrid >/dev/null; then
  addgroup --system parkgrid
fi
if ! getent passwd parkgrid >/dev/null; then
  adduser --system --ingroup parkgrid --home /var/lib/parkgrid --no-create-home \
    --shell /usr/sbin/nologin --gecos "parkgrid daemons" parkgrid
fi
