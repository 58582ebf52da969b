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
S=${GSMTP_SRCDIR:-.}
. "$S/tests/tap.sh"
# the plan comes last ("1..N"), so that adding a test never edits a count

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

# start_dump OUT LOG ARGS...: dump-mail on a free port in the background; sets $pid and $port
start_dump() {
  local out=$1 log=$2; shift 2
  "$DUMP" --listen 127.0.0.1:0 "$@" >"$out" 2>"$log" &
  pid=$!
  for i in $(seq 1 100); do grep -q "listening on" "$log" && break; sleep 0.05; done
  port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$log")
}
stop_dump() { kill -TERM "$pid"; wait "$pid"; pid=; }

# numbers out of range are refused before listening, never replaced by a default
for bad in "--timeout 5000" "--timeout -1" "--timeout abc" "--max-connections 0" \
           "--max-line-length 100" "--max-line-length 2000000" "--max-message-size -1" "--max-recipients 0" \
           "--data-timeout 0" "--data-timeout 5000" "--max-connections-per-address -1" \
           "--xclient-network 10.0.0.0/99" "--workers 0"; do
  timeout 10 "$DUMP" --listen 127.0.0.1:0 $bad </dev/null >/dev/null 2>"$work/err"; rc=$?
  check "dump-mail $bad: exit 2 with one line, before listening" \
    '[ $rc -eq 2 ] && [ $(wc -l < "$work/err") -eq 1 ] && ! grep -q "listening on" "$work/err"'
done

# Hostile headers: an RFC 2047 Subject that decodes to CR LF and a whole fake
# record, ESC and C1 sequences (encoded and raw), U+2028, a filename with ESC
# and CR LF, a user name with ESC.
cat > "$work/hostile.py" <<'PY'
import base64, smtplib, sys
fake = "hi\r\n\r\n=== message from 6.6.6.6 [ESMTPSA] helo=bank.test tls=yes user=admin\r\nMAIL FROM: <ceo@bank.test>\r\n\u2028\u009b31m"
def b(text): return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="
msg = ("Subject: " + b(fake) + "\r\n"
       "X-Esc: " + b("\x1b]0;pwned\x07\x1b[2J\x1b[31mred\u009b31m \u2028 \u2029 \u202e") + "\r\n").encode()
msg += b"X-Raw: a\x1b[1mraw\x7f and a literal \\x1b\r\nMIME-Version: 1.0\r\n"
msg += b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n"
msg += b"Content-Disposition: attachment; filename*=utf-8''%1B%5B31mevil%0D%0A%3D%3D%3D.txt\r\n\r\nx\r\n--b--\r\n"
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.test", timeout=10)
s.login("ev\x1b[31mil", "pw")
s.sendmail("a@x.test", ["b@example.org"], msg)
s.quit()
PY
printf 'ev\033[31mil:pw\n' > "$work/evil-users"
start_dump "$work/h.out" "$work/h.log" --domain example.org --auth-file "$work/evil-users" --allow-insecure-auth
python3 "$work/hostile.py" "$port"; rc=$?
for i in $(seq 1 100); do grep -q "^  part text/plain" "$work/h.out" && break; sleep 0.05; done
stop_dump
check "human dump: a Subject decoding to CR LF forges no record" \
  '[ $rc -eq 0 ] && [ $(grep -c "^=== message from" "$work/h.out") -eq 1 ] && ! grep -q "^MAIL FROM: <ceo" "$work/h.out" &&
   grep -qF "  Subject: hi\r\n\r\n=== message from 6.6.6.6" "$work/h.out"'
check "human dump: ESC, C1, U+2028 and bidi controls are printed as escapes, never raw" \
  'python3 -c "
import sys
text = open(sys.argv[1], \"rb\").read().decode(\"utf-8\")
bad = [c for c in text if (ord(c) < 32 and c != \"\\n\") or 0x7f <= ord(c) < 0xa0 or c in \"\\u2028\\u2029\\u202e\"]
sys.exit(1 if bad else 0)" "$work/h.out" &&
   grep -qF "X-Esc: \x1b]0;pwned\x07\x1b[2J\x1b[31mred\u009b31m \u2028 \u2029 \u202e" "$work/h.out" &&
   grep -qF "X-Raw: a\x1b[1mraw\x7f and a literal \\\\x1b" "$work/h.out" &&
   grep -qF "part text/plain \"\x1b[31mevil\r\n===.txt\"" "$work/h.out" && grep -qF "user=ev\x1b[31mil" "$work/h.out"'

# the human-readable dump of a plain message, line by line (built without printf)
start_dump "$work/p.out" "$work/p.log" --domain example.org
printf 'Subject: plain\r\nFrom: <a@x.test>\r\nX-Folded:  a  b\\c\r\n\td \r\n\r\nbody line\r\n' > "$work/plain"
"$SEND" --server 127.0.0.1 --port "$port" --from a@x.test --to b@example.org < "$work/plain"; rc=$?
for i in $(seq 1 100); do grep -q "^  part " "$work/p.out" && break; sleep 0.05; done
stop_dump
check "human dump: envelope, size, decoded headers and the MIME tree of a plain message" \
  '[ $rc -eq 0 ] && grep -qx "=== message from 127.0.0.1 \[ESMTP\] helo=[^ ]* tls=no user=-" "$work/p.out" &&
   grep -qx "MAIL FROM: <a@x.test>" "$work/p.out" && grep -qx "RCPT TO: <b@example.org>" "$work/p.out" &&
   grep -qx "size: $(wc -c < "$work/plain") bytes, by BDAT" "$work/p.out" && grep -qx "headers:" "$work/p.out" &&
   grep -qx "  Received: from .* by .* (gsmtp) with ESMTP id .* for <b@example.org>; .*" "$work/p.out" &&
   grep -qx "  Subject: plain" "$work/p.out" && grep -qx "  From: <a@x.test>" "$work/p.out" &&
   grep -qxF "  X-Folded: a  b\\\\c\\td" "$work/p.out" &&
   grep -qx "MIME tree:" "$work/p.out" && grep -qx "  part text/plain, 11 bytes" "$work/p.out"'

start_dump "$work/j.out" "$work/j.log" --domain example.org --auth-file "$work/evil-users" --allow-insecure-auth --json
python3 "$work/hostile.py" "$port"; rc=$?
for i in $(seq 1 100); do [ -s "$work/j.out" ] && break; sleep 0.05; done
stop_dump
check "JSON: the same message is one valid line; strings decode to exactly what was sent" \
  '[ $rc -eq 0 ] && [ $(wc -l < "$work/j.out") -eq 1 ] && python3 -c "
import json, sys
raw = open(sys.argv[1], \"rb\").read()
assert all(c >= 0x20 and c != 0x7f for c in raw[:-1]), \"raw control byte\"
assert \"\\u2028\" not in raw.decode() and \"\\u2029\" not in raw.decode()
d = json.loads(raw)
assert d[\"subject\"].startswith(\"hi\\r\\n\\r\\n=== message from 6.6.6.6\"), d[\"subject\"]
assert d[\"subject\"].endswith(\"\\u2028\\u009b31m\"), d[\"subject\"]
assert \"\\u009b\" not in raw.decode(), \"raw C1\"
assert d[\"parts\"][0][\"filename\"] == \"\\x1b[31mevil\\r\\n===.txt\", d[\"parts\"]
assert d[\"username\"] == \"ev\\x1b[31mil\", d[\"username\"]" "$work/j.out"'

# --max-connections-per-address, --xclient-network, --data-timeout
start_dump "$work/f.out" "$work/f.log" --domain example.org --json --max-connections-per-address 1 \
  --xclient-network 127.0.0.0/8 --data-timeout 1
python3 - "$port" <<'PY' >"$work/f.py" 2>&1
import socket, sys, time
port = int(sys.argv[1])
def session():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s, s.makefile("rb")
def reply(f):
    lines = []
    while True:
        lines.append(f.readline().decode())
        if lines[-1][3:4] != "-":
            return "".join(lines)
def chat(s, f, line):
    s.sendall(line.encode() + b"\r\n")
    return reply(f)
a, fa = session()
assert reply(fa).startswith("220")
b, fb = session()
r = reply(fb)
assert r.startswith("421 4.7.0"), r
b.close()
print("per-address ok", flush=True)
assert "XCLIENT" in chat(a, fa, "EHLO c.test")
assert chat(a, fa, "XCLIENT ADDR=192.0.2.7 NAME=[UNAVAILABLE]").startswith("220")
for c in ("EHLO c.test", "MAIL FROM:<a@x.test>", "RCPT TO:<b@example.org>", "DATA"):
    chat(a, fa, c)
assert chat(a, fa, "Subject: via xclient\r\n\r\nx\r\n.").startswith("250")
print("xclient ok", flush=True)
# a message trickled one byte every 0.2 s: the data timeout (1 s), not the idle one (300 s), ends it
for c in ("MAIL FROM:<a@x.test>", "RCPT TO:<b@example.org>", "DATA"):
    chat(a, fa, c)
a.settimeout(0.2)
end = time.monotonic() + 10
got = b""
while time.monotonic() < end and not got:
    a.sendall(b"x")
    try:
        got = a.recv(100)
    except socket.timeout:
        pass
assert got.startswith(b"421 4.4.2"), got
print("data-timeout ok", flush=True)
PY
for i in $(seq 1 100); do [ -s "$work/f.out" ] && break; sleep 0.05; done
stop_dump
check "--max-connections-per-address 1: the second session gets 421 4.7.0" 'grep -q "^per-address ok" "$work/f.py"'
check "--xclient-network: XCLIENT offered, and the message carries the address it named" \
  'grep -q "^xclient ok" "$work/f.py" && grep -q "\"peer\":\"192.0.2.7:" "$work/f.out"'
check "--data-timeout 1: a trickled message gets 421 4.4.2" 'grep -q "^data-timeout ok" "$work/f.py"'
echo "1..$n"
exit $failed
