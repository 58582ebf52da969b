#!/bin/bash
# dump-mail --proxy-protocol behind a real HAProxy (Debian package haproxy), on
# loopback: PROXY v1 (send-proxy) and v2 (send-proxy-v2, with a CRC32C), plain
# and implicit TLS passed through in TCP mode, TLS ended at HAProxy
# (send-proxy-v2-ssl-cn), IPv6 clients, HAProxy's SMTP health checks (v2
# LOCAL, also forced with check-send-proxy), and the per-address limit counting the real client.  Clients speak
# from 127.0.0.2 and up, HAProxy from 127.0.0.1: the JSON's "peer" must be the
# client's address and port, never HAProxy's.  Every wait is bounded.
set -u
B=${GSMTP_BUILDDIR:-.}
DUMP="$B/examples/dump-mail"
HAPROXY=$(command -v haproxy || { [ -x /usr/sbin/haproxy ] && echo /usr/sbin/haproxy; })
for need in python3 openssl; do
  command -v $need >/dev/null || { echo "1..0 # SKIP $need not installed"; exit 0; }
done
[ -n "$HAPROXY" ] || { echo "1..0 # SKIP haproxy not installed (tools/deps.sh test installs it)"; exit 0; }

work=$(mktemp -d)
dpid=; hpid=
cleanup() {
  [ -n "$hpid" ] && kill "$hpid" 2>/dev/null
  [ -n "$dpid" ] && kill "$dpid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
S=${GSMTP_SRCDIR:-.}
. "$S/tests/tap.sh"
# wait_for SECONDS COMMAND: polls COMMAND every 50 ms until it holds or time is up
wait_for() {
  local i
  for i in $(seq 1 $(($1 * 20))); do eval "$2" && return 0; sleep 0.05; done
  return 1
}
echo "1..13"

python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null && six=1 || six=0

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/key.pem" \
  -out "$work/cert.pem" -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
cat "$work/cert.pem" "$work/key.pem" > "$work/haproxy.pem"

# --max-connections-per-address is in CONTRACT.md; a dump-mail without it yet
# skips that one case
per_address=
"$DUMP" --help 2>&1 | grep -q -- --max-connections-per-address && per_address="--max-connections-per-address 2"
"$DUMP" --listen 127.0.0.1:0 --listen-tls 127.0.0.1:0 --proxy-protocol --json --domain example.org \
  --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" --maildir "$work/md" $per_address \
  >"$work/out" 2>"$work/log" &
dpid=$!
wait_for 10 '[ "$(grep -c "listening on" "$work/log")" = 2 ] || ! kill -0 $dpid 2>/dev/null'
plain=$(sed -n '1s/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/log")
tls=$(sed -n '2s/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/log")
[ -n "$plain" ] && [ -n "$tls" ] || { echo "Bail out! dump-mail did not start: $(cat "$work/log")"; exit 1; }

# HAProxy cannot say which port it got for port 0: take free ones and bind
# them at once; a port taken in between is tried again, a bounded few times.
start_haproxy() {
  set -- $(python3 -c '
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
  P_V1=$1 P_V2=$2 P_V1T=$3 P_V2T=$4 P_TERM=$5
  six_v1=; six_v2=
  if [ $six = 1 ]; then six_v1="bind [::1]:$P_V1"; six_v2="bind [::1]:$P_V2"; fi
  cat > "$work/haproxy.cfg" <<EOF
global
    maxconn 200
    stats socket $work/stats.sock mode 600 level operator
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
# v1 in front of the plain port
listen v1
    bind 127.0.0.1:$P_V1
    $six_v1
    server d 127.0.0.1:$plain send-proxy
# v2 with a CRC32C, and HAProxy's SMTP health check (sent as v2 LOCAL)
listen v2
    bind 127.0.0.1:$P_V2
    $six_v2
    option smtpchk HELO haproxy.test
    server d 127.0.0.1:$plain send-proxy-v2 proxy-v2-options crc32c check inter 200ms
# TCP mode passes the client's TLS through to --listen-tls
listen v1tls
    bind 127.0.0.1:$P_V1T
    server d 127.0.0.1:$tls send-proxy
# checks speak no TLS: they go to the plain port, with the header forced
listen v2tls
    bind 127.0.0.1:$P_V2T
    option smtpchk HELO haproxy.test
    server d 127.0.0.1:$tls send-proxy-v2 check port $plain check-send-proxy inter 200ms
# TLS ended at HAProxy; the SSL TLV says so
listen v2term
    bind 127.0.0.1:$P_TERM ssl crt $work/haproxy.pem
    server d 127.0.0.1:$plain send-proxy-v2-ssl-cn proxy-v2-options crc32c,authority
EOF
  "$HAPROXY" -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
  hpid=$!
  wait_for 10 '[ -S "$work/stats.sock" ] || ! kill -0 $hpid 2>/dev/null'
  kill -0 $hpid 2>/dev/null && [ -S "$work/stats.sock" ]
}
for attempt in 1 2 3; do
  start_haproxy && break
  wait $hpid 2>/dev/null; hpid=
done
[ -n "$hpid" ] || { echo "Bail out! haproxy did not start: $(cat "$work/haproxy.log")"; exit 1; }

# One message from SOURCE through HAProxy; prints the client's own "HOST PORT"
# and whether STARTTLS was offered.
cat > "$work/client.py" <<'PY'
import smtplib, ssl, sys
mode, host, port, source, subject, cafile = sys.argv[1:7]
if mode == "tls":
    ctx = ssl.create_default_context(cafile=cafile)
    s = smtplib.SMTP_SSL(host, int(port), context=ctx, timeout=20, source_address=(source, 0))
else:
    s = smtplib.SMTP(host, int(port), timeout=20, source_address=(source, 0))
s.ehlo("client.test")
me = s.sock.getsockname()
s.sendmail("a@x.test", ["b@example.org"], ("Subject: %s\r\n\r\nthrough haproxy\r\n" % subject).encode())
s.quit()
print(me[0], me[1], "starttls" if s.has_extn("starttls") else "no-starttls")
PY

# run_client NAME MODE HOST PORT SOURCE: sends, then finds the message's JSON
# line; sets $line and $want ("HOST:PORT" the client spoke from, IPv6 in [])
run_client() {
  local name=$1 mode=$2 host=$3 port=$4 source=$5 me
  line=; want=; starttls=
  me=$(python3 "$work/client.py" "$mode" "$host" "$port" "$source" "$name" "$work/cert.pem" 2>"$work/client.err") ||
    { echo "# $name: $(tail -1 "$work/client.err")"; return 1; }
  set -- $me
  case $1 in *:*) want="[$1]:$2" ;; *) want="$1:$2" ;; esac
  starttls=$3
  wait_for 10 'grep -q "\"subject\":\"$name\"" "$work/out"' || return 1
  line=$(grep "\"subject\":\"$name\"" "$work/out")
}

run_client v1-plain plain 127.0.0.1 "$P_V1" 127.0.0.2
check "v1 (send-proxy): peer is the client, $want" \
  '[ -n "$line" ] && echo "$line" | grep -qF "\"peer\":\"$want\"" && echo "$line" | grep -q "\"tls\":false"'
run_client v2-plain plain 127.0.0.1 "$P_V2" 127.0.0.7
check "v2 (send-proxy-v2, CRC32C): peer is the client, $want" \
  '[ -n "$line" ] && echo "$line" | grep -qF "\"peer\":\"$want\"" && echo "$line" | grep -q "\"tls\":false"'
run_client v1-tls tls 127.0.0.1 "$P_V1T" 127.0.0.8
check "v1 before implicit TLS passed through: peer $want, tls" \
  '[ -n "$line" ] && echo "$line" | grep -qF "\"peer\":\"$want\"" && echo "$line" | grep -q "\"tls\":true"'
run_client v2-tls tls 127.0.0.1 "$P_V2T" 127.0.0.3
check "v2 before implicit TLS passed through: peer $want, tls" \
  '[ -n "$line" ] && echo "$line" | grep -qF "\"peer\":\"$want\"" && echo "$line" | grep -q "\"tls\":true"'
run_client v2-term tls 127.0.0.1 "$P_TERM" 127.0.0.4
check "TLS ended at HAProxy (send-proxy-v2-ssl-cn): peer $want, tls, no STARTTLS offered" \
  '[ -n "$line" ] && echo "$line" | grep -qF "\"peer\":\"$want\"" && echo "$line" | grep -q "\"tls\":true" &&
   [ "$starttls" = no-starttls ]'
check "TLS ended at HAProxy: the Received header says ESMTPS and the client's TLS version" \
  'grep -l "^Subject: v2-term" "$work/md/new/"* 2>/dev/null | head -1 | xargs -r head -3 | grep -q "with ESMTPS (TLSv1\.[23] with cipher "'
if [ $six = 1 ]; then
  run_client v2-six plain ::1 "$P_V2" ::1
  check "v2 from an IPv6 client: peer $want" '[ -n "$line" ] && echo "$line" | grep -qF "\"peer\":\"$want\""'
  run_client v1-six plain ::1 "$P_V1" ::1
  check "v1 from an IPv6 client: peer $want" '[ -n "$line" ] && echo "$line" | grep -qF "\"peer\":\"$want\""'
else
  ok "v2 from an IPv6 client # SKIP no ::1"
  ok "v1 from an IPv6 client # SKIP no ::1"
fi

# HAProxy's health checks arrive as v2 LOCAL and pass as SMTP (L7OK)
stat() {
  python3 - "$work/stats.sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
s.sendall(b"show stat\n")
data = b""
while True:
    d = s.recv(65536)
    if not d: break
    data += d
rows = data.decode().splitlines()
head = rows[0].lstrip("# ").split(",")
for r in rows[1:]:
    f = dict(zip(head, r.split(",")))
    if f.get("pxname") in ("v2", "v2tls") and f.get("svname") == "d":
        print(f.get("pxname"), f.get("status"), f.get("check_status"))
PY
}
wait_for 10 '[ "$(stat | grep -c " UP L7OK$")" = 2 ]'
check "HAProxy's SMTP health checks (v2 LOCAL) pass: $(stat | tr "\n" " ")" '[ "$(stat | grep -c " UP L7OK$")" = 2 ]'

# The per-address limit (2 here) counts the client HAProxy names: a third
# session from 127.0.0.5 is refused while two last, 127.0.0.6 is not.
if [ -n "$per_address" ]; then
python3 - 127.0.0.1 "$P_V2" > "$work/limit" 2>&1 <<'PY'
import smtplib, sys
host, port = sys.argv[1], int(sys.argv[2])
def greet(source):
    try:
        s = smtplib.SMTP(host, port, timeout=20, source_address=(source, 0))
        return s, 220
    except smtplib.SMTPConnectError as e:
        return None, e.smtp_code
held = [greet("127.0.0.5"), greet("127.0.0.5"), greet("127.0.0.5"), greet("127.0.0.6")]
print(" ".join(str(code) for _, code in held))
for s, _ in held:
    if s is not None:
        s.quit()
PY
check "per-address limit behind HAProxy counts the client: $(cat "$work/limit")" '[ "$(cat "$work/limit")" = "220 220 421 220" ]'
else
  ok "per-address limit behind HAProxy # SKIP this dump-mail has no --max-connections-per-address"
fi

# A stranger straight to the PROXY port, no header: dropped without a banner
python3 - 127.0.0.1 "$plain" > "$work/stranger" 2>&1 <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
s.sendall(b"EHLO stranger.test\r\n")
try:
    got = s.recv(100)
except ConnectionResetError:
    got = b""      # closed with the EHLO unread: a reset
print("closed" if got == b"" else repr(got))
PY
check "no PROXY header: closed, not a word said: $(cat "$work/stranger")" '[ "$(cat "$work/stranger")" = closed ]'

# checks every 200 ms ran meanwhile: dump-mail said nothing about them
check "health checks leave dump-mail's log quiet" '[ $(grep -vc "^listening on" "$work/log") -eq 0 ]'

kill -TERM "$hpid"; wait "$hpid" 2>/dev/null; hpid=
kill -TERM "$dpid"; wait "$dpid"; rc=$?; dpid=
check "dump-mail stops cleanly (exit 0)" '[ $rc -eq 0 ]'
exit $failed
