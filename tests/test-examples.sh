#!/bin/bash
# dump-mail and send-mail as ../shared/CONTRACT.md describes them, driven from outside.
set -u
B=${GSMTP_BUILDDIR:-.}
DUMP="$B/examples/dump-mail"
SEND="$B/examples/send-mail"
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
n=0; failed=0
ok() { n=$((n+1)); echo "ok $n - $1"; }
notok() { n=$((n+1)); failed=1; echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }
echo "1..14"

"$DUMP" --bogus >/dev/null 2>"$work/err"; rc=$?
check "dump-mail: bad flag exits 2 with one line" '[ $rc -eq 2 ] && [ $(wc -l < "$work/err") -eq 1 ]'
"$SEND" --server 127.0.0.1 </dev/null >/dev/null 2>&1; rc=$?
check "send-mail: missing flags exit 2" '[ $rc -eq 2 ]'

"$DUMP" --listen 127.0.0.1:0 --domain example.org --json --maildir "$work/md" >"$work/out" 2>"$work/log" &
pid=$!
for i in $(seq 1 100); do grep -q "listening on" "$work/log" && break; sleep 0.05; done
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/log")
check "dump-mail prints the real port" '[ -n "$port" ]'

printf 'Subject: via send-mail\r\nMessage-ID: <m1@x.test>\r\n\r\n.dot line\r\nbody\r\n' > "$work/msg"
"$SEND" --server 127.0.0.1 --port "$port" --from a@x.test --to b@example.org < "$work/msg"; rc=$?
check "send-mail exit 0 when accepted" '[ $rc -eq 0 ]'
"$SEND" --server 127.0.0.1 --port "$port" --from a@x.test --to b@elsewhere.test < "$work/msg" 2>"$work/serr"; rc=$?
check "send-mail exit 1 and the reply when refused" '[ $rc -eq 1 ] && grep -q "550 5.7.1" "$work/serr"'

for i in $(seq 1 100); do [ -s "$work/out" ] && break; sleep 0.05; done
want=$(sha256sum < "$work/msg" | cut -d" " -f1)
check "JSON line has the sha256 of the bytes sent, subject and message id" \
  'grep -q "\"sha256\":\"$want\"" "$work/out" && grep -q "\"subject\":\"via send-mail\"" "$work/out" && grep -q "\"message_id\":\"m1@x.test\"" "$work/out"'
check "maildir holds the message in new/ with a Received header" \
  '[ $(ls "$work/md/new" | wc -l) -eq 1 ] && head -1 "$work/md/new/"* | grep -q "^Received: from"'

if command -v python3 >/dev/null; then
  python3 - "$port" <<'PY'; rc=$?
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=10)
s.sendmail('', ['postmaster'], b'Subject: bounce\r\n\r\nx\r\n')
s.quit()
PY
  check "smtplib: a null-sender bounce to postmaster" '[ $rc -eq 0 ]'
else
  ok "smtplib # SKIP no python3"
fi

kill -TERM "$pid"; wait "$pid"; rc=$?; pid=
check "SIGTERM: stop and exit 0" '[ $rc -eq 0 ]'

# TLS and AUTH flags: STARTTLS required, AUTH from a file, implicit TLS
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/key.pem" \
  -out "$work/cert.pem" -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
printf 'alice:wonderland\n' > "$work/users"
printf 'wonderland\n' > "$work/pw"
"$DUMP" --listen 127.0.0.1:0 --listen-tls 127.0.0.1:0 --domain example.org --json --tls-cert "$work/cert.pem" \
  --tls-key "$work/key.pem" --require-tls --auth-file "$work/users" >"$work/out2" 2>"$work/log2" &
pid=$!
for i in $(seq 1 100); do [ $(grep -c "listening on" "$work/log2") -eq 2 ] && break; sleep 0.05; done
plain=$(sed -n '1s/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/log2")
implicit=$(sed -n '2s/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/log2")
"$SEND" --server 127.0.0.1 --port "$plain" --from a@x.test --to b@example.org < "$work/msg" 2>"$work/serr"; rc=$?
check "--require-tls: plain MAIL refused with 530" '[ $rc -eq 1 ] && grep -q 530 "$work/serr"'
"$SEND" --server localhost --port "$plain" --starttls --ca-file "$work/cert.pem" --user alice \
  --password-file "$work/pw" --from alice@example.org --to b@example.org < "$work/msg"; rc=$?
check "send-mail --starttls --user: accepted" '[ $rc -eq 0 ]'
"$SEND" --server localhost --port "$implicit" --tls --ca-file "$work/cert.pem" \
  --from a@x.test --to b@example.org < "$work/msg"; rc=$?
check "send-mail --tls to --listen-tls: accepted" '[ $rc -eq 0 ]'
for i in $(seq 1 100); do [ $(wc -l < "$work/out2") -ge 2 ] && break; sleep 0.05; done
check "JSON says tls and username" \
  'grep -q "\"tls\":true,\"username\":\"alice\"" "$work/out2" && [ $(grep -c "\"tls\":true" "$work/out2") -eq 2 ]'
kill -TERM "$pid"; wait "$pid"; pid=

# a 100 MiB message (max size raised) is received with flat memory: it spills to
# a file and is parsed from there
"$DUMP" --listen 127.0.0.1:0 --domain example.org --max-message-size 209715200 >/dev/null 2>"$work/log3" &
pid=$!
for i in $(seq 1 100); do grep -q "listening on" "$work/log3" && break; sleep 0.05; done
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/log3")
python3 - "$port" <<'PY'; rc=$?
import smtplib, sys
line = b"x" * 998 + b"\r\n"
msg = b"Subject: huge\r\n\r\n" + line * (100 * 1024 * 1024 // len(line))
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=60)
s.sendmail("a@x.test", ["b@example.org"], msg)
s.quit()
PY
hwm=$(sed -n 's/^VmHWM:[^0-9]*\([0-9]*\) kB/\1/p' /proc/$pid/status)
limit=32768
# AddressSanitizer's shadow memory is no measure of ours
ldd "$B/.libs/libgsmtp-1.0.so" 2>/dev/null | grep -q libasan && limit=1048576
check "100 MiB message accepted with peak RSS ${hwm} KiB (< $limit KiB)" '[ $rc -eq 0 ] && [ "$hwm" -lt $limit ]'
kill -TERM "$pid"; wait "$pid"; pid=
exit $failed
