#!/bin/sh
# Real software against dump-mail, by hand (not part of CI: it starts a Postfix of
# its own, as root, and installs swaks, curl and msmtp).  Loopback only; everything
# it starts is stopped by PID at the end.
#   tools/interop.sh          swaks, curl, msmtp (STARTTLS + AUTH) and Postfix relaying
set -eu
[ "$(id -u)" -eq 0 ] || { echo "interop: run as root (Postfix needs it)" >&2; exit 1; }
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq swaks curl msmtp postfix openssl >/dev/null
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/peers/private-postfix.sh"
w=$(mktemp -d)
pids=""
cleanup() { private_postfix_stop "$w"; for p in $pids; do kill "$p" 2>/dev/null || true; done; rm -rf "$w"; }
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$w/key.pem" \
  -out "$w/cert.pem" -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
echo "alice:wonderland" > "$w/users"
"$top/examples/dump-mail" --listen 127.0.0.1:0 --domain example.org --json --tls-cert "$w/cert.pem" \
  --tls-key "$w/key.pem" --auth-file "$w/users" > "$w/out" 2> "$w/log" &
pids="$pids $!"
sleep 0.5
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$w/log")

swaks --server "127.0.0.1:$port" --from a@x.test --to b@example.org --tls --auth PLAIN \
  --auth-user alice --auth-password wonderland --pipeline >/dev/null && echo "swaks: ok"
printf 'From: a@x.test\r\nSubject: via curl\r\n\r\nhello\r\n' > "$w/m"
curl -s --ssl-reqd --cacert "$w/cert.pem" --url "smtp://localhost:$port" --mail-from a@x.test \
  --mail-rcpt b@example.org --user alice:wonderland --upload-file "$w/m" && echo "curl: ok"
printf 'Subject: via msmtp\n\n.leading dot\n' | msmtp --host=localhost --port="$port" --tls=on \
  --tls-starttls=on --tls-trust-file="$w/cert.pem" --auth=login --user=alice \
  --passwordeval="echo wonderland" --from=a@x.test b@example.org && echo "msmtp: ok"

# Postfix relays into dump-mail (its own config and queue; no inet listener)
private_postfix_start "$w" "relayhost = [127.0.0.1]:$port"
printf 'Subject: via postfix\n\nrelayed\n' | sendmail -C "$w/pf" -f a@x.test b@example.org
for i in $(seq 1 40); do grep -q '"subject":"via postfix"' "$w/out" && break; sleep 0.5; done
grep -q '"subject":"via postfix"' "$w/out" && echo "postfix relay: ok"
echo "delivered: $(wc -l < "$w/out") messages"
