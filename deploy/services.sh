#!/usr/bin/env bash
# Starts the services parkgrid's integration tests use, if they are down:
# PostgreSQL 15, Mosquitto and InfluxDB 1.8 (v2 write API). Fails loudly when
# one cannot be started.
#
#   deploy/services.sh INFLUXD CACHE   start what is down
#   deploy/services.sh --stop CACHE    stop what an earlier run started
#                                      (InfluxDB; PostgreSQL and Mosquitto
#                                      are the machine's and stay up)
set -euo pipefail
if [ "${1:-}" = --stop ]; then
  pidfile="${2:-.cache}/influxdb/influxd.pid"
  if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      echo "stopped InfluxDB (pid $pid), started by make"
    fi
    rm -f "$pidfile"
  fi
  exit 0
fi
influxd_bin=${1:-influxd}
cache=${2:-.cache}

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_up() { for _ in $(seq 1 100); do up "$1" && return 0; sleep 0.1; done; return 1; }

if ! up 5432; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  wait_up 5432 || { echo "PostgreSQL did not come up on 5432" >&2; exit 1; }
fi
if ! up 1883; then
  echo "starting Mosquitto"
  mosquitto -d -c /etc/mosquitto/mosquitto.conf
  wait_up 1883 || { echo "Mosquitto did not come up on 1883" >&2; exit 1; }
fi
if ! up 8086; then
  echo "starting InfluxDB 1.8 ($influxd_bin)"
  mkdir -p "$cache/influxdb"
  dir=$(cd "$cache/influxdb" && pwd)
  sed "s#@DIR@#$dir#g" "$(dirname "$0")/influxdb-test.conf" > "$dir/influxdb.conf"
  nohup "$influxd_bin" run -config "$dir/influxdb.conf" > "$dir/influxd.log" 2>&1 &
  echo $! > "$dir/influxd.pid"
  wait_up 8086 || { echo "InfluxDB did not come up on 8086; see $dir/influxd.log" >&2; exit 1; }
fi
echo "services up: PostgreSQL :5432, Mosquitto :1883, InfluxDB :8086"
