#!/usr/bin/env bash
# ACME test server for the tls: auto e2e tests (issue #10): Debian's pebble (Let's Encrypt's test
# CA, real HTTP-01 validation) and pebble-challtestsrv (its mock DNS: every name is 127.0.0.1, so
# pebble validates http://NAME:$HTTP_PORT/.well-known/acme-challenge/... against the test proxy,
# which the TLS tests publish on that port).
# - pebble's API listens on the docker0 gateway address, with a TLS certificate made here by openssl
#   for host.docker.internal (what the renewer container reaches it as: --add-host host-gateway),
#   localhost and that address; its CA is .testbed/pebble/ca.pem (the tests' acme-directory-ca).
# - .testbed/pebble.json says where everything is.
# Idempotent: starts only what is not answering; installs pebble with apt when missing. down.sh stops both.
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
TB=$REPO/.testbed
D=$TB/pebble
HTTP_PORT=${CUTOVER_TEST_PEBBLE_HTTP_PORT:-5402}
API_PORT=14000
MGMT_PORT=15000
DNS_PORT=8053
CHALL_MGMT_PORT=8055
export DEBIAN_FRONTEND=noninteractive
mkdir -p "$D"

if ! command -v pebble >/dev/null 2>&1 || ! command -v pebble-challtestsrv >/dev/null 2>&1; then
  { apt-get install -y -qq pebble || { apt-get update -qq && apt-get install -y -qq pebble; }; } >>/var/log/cutover-testbed-apt.log 2>&1 ||
    { echo "apt-get install pebble failed" >&2; exit 1; }
fi
GW=$(docker network inspect bridge -f '{{(index .IPAM.Config 0).Gateway}}' 2>/dev/null || true)
[ -n "$GW" ] || GW=$(ip -4 -o addr show docker0 | awk '{print $4}' | cut -d/ -f1)
[ -n "$GW" ] || { echo "no docker0 gateway address: is dockerd up?" >&2; exit 1; }

# The API's TLS certificate: a CA of our own and a leaf for the names the renewer and the tests use.
if [ ! -s "$D/cert.pem" ] || ! openssl x509 -in "$D/cert.pem" -noout -checkend 86400 >/dev/null 2>&1 ||
  ! openssl x509 -in "$D/cert.pem" -noout -ext subjectAltName 2>/dev/null | grep -q "IP Address:$GW"; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 -subj "/CN=cutover test ACME API CA" \
    -keyout "$D/ca.key" -out "$D/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=host.docker.internal" \
    -keyout "$D/key.pem" -out "$D/cert.csr" 2>/dev/null
  printf 'subjectAltName=DNS:host.docker.internal,DNS:localhost,IP:127.0.0.1,IP:%s\n' "$GW" >"$D/ext.cnf"
  openssl x509 -req -in "$D/cert.csr" -CA "$D/ca.pem" -CAkey "$D/ca.key" -CAcreateserial -days 825 -extfile "$D/ext.cnf" -out "$D/cert.pem" 2>/dev/null
fi
cat >"$D/config.json" <<JSON
{
  "pebble": {
    "listenAddress": "$GW:$API_PORT",
    "managementListenAddress": "127.0.0.1:$MGMT_PORT",
    "certificate": "$D/cert.pem",
    "privateKey": "$D/key.pem",
    "httpPort": $HTTP_PORT,
    "tlsPort": 5401,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
  }
}
JSON

answers() { curl -s -o /dev/null --max-time 2 "$@"; }
if ! answers "http://127.0.0.1:$CHALL_MGMT_PORT/"; then
  # Only the mock DNS and its management API: the HTTP-01 answers come from the proxy under test.
  setsid pebble-challtestsrv -dns01 "127.0.0.1:$DNS_PORT" -management "127.0.0.1:$CHALL_MGMT_PORT" \
    -http01 "" -https01 "" -tlsalpn01 "" -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
    >"$D/challtestsrv.log" 2>&1 </dev/null &
  echo $! >"$D/challtestsrv.pid"
fi
if ! answers --cacert "$D/ca.pem" "https://$GW:$API_PORT/dir"; then
  # No random sleeps before validation, no random nonce rejections: the tests time what cutover does.
  PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 setsid pebble -config "$D/config.json" -dnsserver "127.0.0.1:$DNS_PORT" \
    >"$D/pebble.log" 2>&1 </dev/null &
  echo $! >"$D/pebble.pid"
fi
for _ in $(seq 1 50); do
  answers --cacert "$D/ca.pem" "https://$GW:$API_PORT/dir" && answers "http://127.0.0.1:$CHALL_MGMT_PORT/" && break
  sleep 0.2
done
answers --cacert "$D/ca.pem" "https://$GW:$API_PORT/dir" || { echo "pebble does not answer: $(tail -5 "$D/pebble.log")" >&2; exit 1; }
cat >"$TB/pebble.json" <<JSON
{
  "directory": "https://host.docker.internal:$API_PORT/dir",
  "directoryFromHost": "https://$GW:$API_PORT/dir",
  "apiCa": "$D/ca.pem",
  "management": "https://127.0.0.1:$MGMT_PORT",
  "challtestsrv": "http://127.0.0.1:$CHALL_MGMT_PORT",
  "httpPort": $HTTP_PORT
}
JSON
echo "pebble: $TB/pebble.json"
