#!/bin/bash
# send-mail's client flags as ../shared/CONTRACT.md describes them (--lmtp, --notify,
# --ret, --envid, --requiretls, --auth-mechanism, UTF-8 addresses), driven from
# outside against tests/peers/scripted-peer.py.
set -u
B=${GSMTP_BUILDDIR:-.}
S=${GSMTP_SRCDIR:-.}
SEND="$B/examples/send-mail"
PY=/usr/bin/python3
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
. "$S/tests/tap.sh"
echo "1..16"
if ! "$PY" -c 'import asyncio' 2>/dev/null; then
  for i in $(seq 1 16); do echo "ok $i # SKIP no python3"; done; exit 0
fi

# peer NAME CONFIG: a scripted peer; its events go to $work/NAME.out, its port to $port
peer() {
  mkfifo "$work/$1.in"
  "$PY" "$S/tests/peers/scripted-peer.py" "$2" < "$work/$1.in" > "$work/$1.out" &
  pids+=($!)
  exec {fd}>"$work/$1.in"
  for i in $(seq 1 200); do grep -q "listening on" "$work/$1.out" 2>/dev/null && break; sleep 0.05; done
  port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/$1.out")
}
# waits until the peer printed a line matching $2
seen() { for i in $(seq 1 100); do grep -q -- "$2" "$work/$1.out" && return 0; sleep 0.05; done; return 1; }

printf 'Subject: flags\r\n\r\nbody\r\n' > "$work/msg"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/key.pem" \
  -out "$work/cert.pem" -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null

"$SEND" --server 127.0.0.1 --from a@x.test --to b@example.org --notify SOMETIMES < "$work/msg" 2>/dev/null; rc=$?
check "--notify with a bad word exits 2" '[ $rc -eq 2 ]'
"$SEND" --server 127.0.0.1 --from a@x.test --to b@example.org --auth-mechanism CRAM-MD5 < "$work/msg" 2>/dev/null; rc=$?
check "--auth-mechanism not known exits 2" '[ $rc -eq 2 ]'

peer plain '{}'
"$SEND" --server 127.0.0.1 --port "$port" --from a@x.test --to b@example.org --envid e1 < "$work/msg" 2>"$work/err"; rc=$?
check "--envid to a server without DSN: exit 1 naming DSN" '[ $rc -eq 1 ] && grep -q DSN "$work/err"'
"$SEND" --server 127.0.0.1 --port "$port" --from a@x.test --to "j$(printf '\303\270')rn@example.org" < "$work/msg" 2>"$work/err"; rc=$?
check "a UTF-8 address without SMTPUTF8: exit 1 naming SMTPUTF8" '[ $rc -eq 1 ] && grep -q SMTPUTF8 "$work/err"'
"$SEND" --server 127.0.0.1 --port "$port" --from a@x.test --to b@example.org --requiretls < "$work/msg" 2>"$work/err"; rc=$?
check "--requiretls in plain text: exit 1 naming REQUIRETLS" '[ $rc -eq 1 ] && grep -q REQUIRETLS "$work/err"'
check "none of them reached MAIL" '! grep -q "MAIL FROM" "$work/plain.out"'

peer dsn '{"ehlo": ["PIPELINING", "DSN", "SMTPUTF8"]}'
"$SEND" --server 127.0.0.1 --port "$port" --from a@x.test --to b@example.org --notify SUCCESS,FAILURE --ret HDRS \
  --envid "id 1" < "$work/msg"; rc=$?
check "--notify --ret --envid: exit 0" '[ $rc -eq 0 ]'
check "... with RET, ENVID (xtext) and NOTIFY on the wire" \
  'seen dsn "RET=HDRS ENVID=id+201" && seen dsn "RCPT TO:<b@example.org> NOTIFY=SUCCESS,FAILURE"'

peer lmtp '{"lmtp": true, "lmtp_replies": {"full": "452 4.2.2 mailbox full"}}'
"$SEND" --server 127.0.0.1 --port "$port" --lmtp --from a@x.test --to b@example.org --to c@example.org < "$work/msg"; rc=$?
check "--lmtp, every recipient 250: exit 0" '[ $rc -eq 0 ] && seen lmtp "LHLO "'
"$SEND" --server 127.0.0.1 --port "$port" --lmtp --from a@x.test --to b@example.org --to full@example.org \
  < "$work/msg" 2>"$work/err"; rc=$?
check "--lmtp, one recipient 452 after the data: exit 1 with its reply" \
  '[ $rc -eq 1 ] && grep -q "full@example.org refused: 452 4.2.2" "$work/err"'

peer oauth "{\"cert\": \"$work/cert.pem\", \"key\": \"$work/key.pem\", \"auth\": [\"XOAUTH2\"]}"
printf 'token\n' > "$work/token"
"$SEND" --server localhost --port "$port" --starttls --ca-file "$work/cert.pem" --user me@example.org \
  --password-file "$work/token" --auth-mechanism XOAUTH2 --from me@example.org --to b@example.org < "$work/msg"; rc=$?
check "--auth-mechanism XOAUTH2 with the token in the password file: exit 0" \
  '[ $rc -eq 0 ] && seen oauth "mechanism\": <\"XOAUTH2\">"'
printf 'wrong\n' > "$work/token"
"$SEND" --server localhost --port "$port" --starttls --ca-file "$work/cert.pem" --user me@example.org \
  --password-file "$work/token" --auth-mechanism XOAUTH2 --from me@example.org --to b@example.org \
  < "$work/msg" 2>"$work/err"; rc=$?
check "a refused token: exit 1, 535, and the token is not printed" \
  '[ $rc -eq 1 ] && grep -q 535 "$work/err" && ! grep -q wrong "$work/err"'
# gsmtp to gsmtp: send-mail into dump-mail, which offers SMTPUTF8, DSN and CHUNKING
"$B/examples/dump-mail" --listen 127.0.0.1:0 --domain '*' --json > "$work/dm.json" 2> "$work/dm.err" &
dm=$!; pids+=($dm)
for i in $(seq 1 200); do grep -q "listening on" "$work/dm.err" 2>/dev/null && break; sleep 0.05; done
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/dm.err")
rcpt="j$(printf '\303\270')rn@b$(printf '\303\274')cher.example"
"$SEND" --server 127.0.0.1 --port "$port" --from a@x.test --to "$rcpt" \
  --notify SUCCESS,FAILURE --ret HDRS --envid "id+1" < "$work/msg" 2>"$work/err"; rc=$?
check "into dump-mail: a UTF-8 recipient with DSN: exit 0" '[ $rc -eq 0 ]'
for i in $(seq 1 100); do [ -s "$work/dm.json" ] && break; sleep 0.05; done
kill -INT "$dm"; wait "$dm" 2>/dev/null
json() { "$PY" -c "import json,sys; m=json.loads(open(sys.argv[1]).readline()); print($1)" "$work/dm.json"; }
got=$(json 'm["chunked"], m["smtputf8"], m["recipients"][0]')
check "... it arrived by BDAT, SMTPUTF8, the recipient whole" '[ "$got" = "True True $rcpt" ]'
got=$(json 'm["dsn"]["ret"], m["dsn"]["envid"]')
check "... with RET=HDRS and the ENVID decoded" '[ "$got" = "HDRS id+1" ]'
got=$(json '",".join(m["recipient_params"][0]["notify"])')
check "... and NOTIFY for the recipient" '[ "$got" = "SUCCESS,FAILURE" ]'
exit $failed
