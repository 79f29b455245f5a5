#!/bin/sh
# Serves reply.sh on the given port and refreshes a heartbeat every few seconds.
set -eu
port=${1:-7000}
mkdir -p "$(dirname "$HEARTBEAT")"
beat() { while :; do date +%s >"$HEARTBEAT"; sleep 5; done; }
beat &
trap 'kill $!; exit 0' TERM INT
echo "$SERVICE_NAME listening on $port"
nc -ll -p "$port" -e /usr/local/bin/reply.sh &
wait $!
