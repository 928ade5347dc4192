#!/usr/bin/env bash
# The demo: installs and builds, starts escrowd on a fresh data directory,
# runs a fleet of simulated devices through the gateway, retrieves one
# device's recovery password as the help desk, shows that retrieval in the
# audit view, verifies the ledger offline and rebuilds the projections.
# Exits 0 only if every step succeeded.
#
# The demo server hashes account passwords at scrypt N = 2^14 and turns the
# rate limits off, because 200 owners sign in from one address within a minute.
#
# With --serve, escrowd is started again on the same data at the end and
# keeps running (Ctrl-C stops it), so the web console can be tried with the
# accounts the demo prints.
#
# Environment: ESCROW_DEMO_DEVICES (default 200), ESCROW_DEMO_DIR (default a
# new directory under /tmp, kept afterwards so it can be inspected),
# ESCROW_DEMO_API_PORT and ESCROW_DEMO_GATEWAY_PORT (for --serve; default
# 8443 and 8444).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
devices=${ESCROW_DEMO_DEVICES:-200}
serve=false
case "${1:-}" in
  --serve) serve=true ;;
  "") ;;
  *) echo "usage: tools/demo.sh [--serve]" >&2; exit 2 ;;
esac

step() { printf '\n== %s\n' "$*"; }

step "Installing packages and building"
bash tools/build.sh
bin="$root/build/tools"

data=${ESCROW_DEMO_DIR:-$(mktemp -d /tmp/escrow-demo-XXXXXX)}
mkdir -p "$data"
admin_password=$(openssl rand -hex 12)
helpdesk_password=$(openssl rand -hex 12)
owner_password=$(openssl rand -hex 12)

step "Starting escrowd on $data"
ESCROW_ADMIN_PASSWORD="$admin_password" "$bin/escrowd" --data-dir "$data" \
  --api-listen 127.0.0.1:0 --gateway-listen 127.0.0.1:0 \
  --ports-file "$data/ports.json" --password-hash-log-n 14 --no-rate-limits \
  >"$data/escrowd.log" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  [ -s "$data/ports.json" ] && break
  kill -0 $server_pid 2>/dev/null || { cat "$data/escrowd.log"; echo "escrowd exited"; exit 1; }
  sleep 0.1
done
api_port=$(sed -E 's/.*"api": ([0-9]+).*/\1/' "$data/ports.json")
gateway_port=$(sed -E 's/.*"gateway": ([0-9]+).*/\1/' "$data/ports.json")
echo "API on https://127.0.0.1:$api_port, device gateway on https://127.0.0.1:$gateway_port (log: $data/escrowd.log)"
echo "Clients verify the server with the local CA certificate $data/keys/tls-ca.pem"

export ESCROW_CA_FILE="$data/keys/tls-ca.pem"
export ESCROW_SERVER="127.0.0.1:$api_port"
export ESCROW_GATEWAY="127.0.0.1:$gateway_port"
export ESCROW_USER=admin
export ESCROW_PASSWORD="$admin_password"

step "Creating the help-desk account 'helpdesk1'"
ESCROW_NEW_PASSWORD="$helpdesk_password" "$bin/escrowctl" add-account \
  --username helpdesk1 --roles helpdesk --display-name "Help Desk One"

step "Creating the owner 'alice' with one phone, escrowed and armed"
ESCROW_NEW_PASSWORD="$owner_password" "$bin/escrowctl" add-account \
  --username alice --roles user --display-name "Alice Example"
token=$("$bin/escrowctl" add-device --device alice-phone --owner alice --json |
  sed -E 's/.*"enrollment_token":"([^"]+)".*/\1/')
"$bin/escrow-device" enroll --device alice-phone --token "$token" --state "$data/alice-phone.json"
"$bin/escrow-device" check-in --state "$data/alice-phone.json"
"$bin/escrow-device" arm --state "$data/alice-phone.json"

step "Running a fleet of $devices devices through the whole lifecycle"
fleet_start_ms=$(( $(date +%s%N) / 1000000 ))
"$bin/escrow-device" fleet --devices "$devices" --id-prefix demo
fleet_ms=$(( $(date +%s%N) / 1000000 - fleet_start_ms ))

device="demo-$(( (devices + 1) / 2 ))"
step "Help desk retrieves the recovery password of $device"
ESCROW_USER=helpdesk1 ESCROW_PASSWORD="$helpdesk_password" "$bin/escrowctl" \
  get-recovery-password --device "$device" --reason "TICKET-1001 owner locked out"

step "Audit view for $device"
"$bin/escrowctl" audit --device "$device"
"$bin/escrowctl" audit --device "$device" --json | grep -q '"actor":"helpdesk1"'

step "Stopping escrowd and verifying the ledger offline"
kill $server_pid
wait $server_pid || true
trap - EXIT
verify_output=$("$bin/escrowctl" verify --data-dir "$data")
echo "$verify_output"
"$bin/escrowctl" rebuild-projections --data-dir "$data"
entries=$("$bin/escrowctl" verify --data-dir "$data" --json | sed -E 's/.*"entries":([0-9]+).*/\1/')

printf '\nDemo OK: %s devices escrowed and reset in %d.%03d s; help desk retrieval audited; ledger of %s entries verified; data in %s\n' \
  "$devices" $((fleet_ms / 1000)) $((fleet_ms % 1000)) "$entries" "$data"

$serve || exit 0
api_port=${ESCROW_DEMO_API_PORT:-8443}
gateway_port=${ESCROW_DEMO_GATEWAY_PORT:-8444}
step "Serving $data until Ctrl-C"
ESCROW_ADMIN_PASSWORD="$admin_password" "$bin/escrowd" --data-dir "$data" \
  --api-listen "127.0.0.1:$api_port" --gateway-listen "127.0.0.1:$gateway_port" \
  --password-hash-log-n 14 --no-rate-limits >>"$data/escrowd.log" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true' EXIT INT TERM
sleep 1
kill -0 $server_pid 2>/dev/null || { tail -5 "$data/escrowd.log"; echo "escrowd exited"; exit 1; }
cat <<INFO
Web console: https://127.0.0.1:$api_port/  (the browser must trust $data/keys/tls-ca.pem,
             or accept the warning for this local demo)
Accounts:    alice / $owner_password      (owner of alice-phone)
             helpdesk1 / $helpdesk_password  (help desk)
             admin / $admin_password      (admin, help desk, auditor)
CLI:         export ESCROW_CA_FILE=$data/keys/tls-ca.pem ESCROW_SERVER=127.0.0.1:$api_port
             export ESCROW_GATEWAY=127.0.0.1:$gateway_port
Device:      alice-phone's state file is $data/alice-phone.json; after the owner
             retrieves its password in the console, try
             escrow-device reset --state $data/alice-phone.json --recovery-password DIGITS
Log:         $data/escrowd.log
INFO
wait $server_pid || true
echo "escrowd stopped; the demo data stays in $data"
