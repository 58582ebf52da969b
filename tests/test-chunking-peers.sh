#!/bin/bash
# CHUNKING/BDAT and BINARYMIME (RFC 3030) against dump-mail from outside: a
# scripted Python client (smtplib and swaks cannot send BDAT) and a real Exim
# relaying (it sends BDAT when CHUNKING is offered; tools/deps.sh test unpacks one).
set -u
B=${GSMTP_BUILDDIR:-.}
S=${GSMTP_SRCDIR:-.}
DUMP="$B/examples/dump-mail"
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
. "$S/tests/tap.sh"
start_dump() {  # start_dump LOG OUT ARGS...: sets pid and port
  local log=$1 out=$2
  shift 2
  "$DUMP" --listen 127.0.0.1:0 --domain example.org --json "$@" >"$out" 2>"$log" &
  pid=$!
  for i in $(seq 1 100); do grep -q "listening on" "$log" && break; sleep 0.05; done
  port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$log")
}
wait_lines() { for i in $(seq 1 200); do [ "$(wc -l < "$1")" -ge "$2" ] && return 0; sleep 0.05; done; return 1; }
echo "1..6"

start_dump "$work/log" "$work/out" --max-message-size 209715200
python3 - "$port" "$work/bin.eml" <<'PY' >"$work/py" 2>&1; rc=$?
import socket, sys
port, path = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=30)
f = s.makefile("rb")
def reply():
    lines = []
    while True:
        line = f.readline()
        assert line, "connection closed"
        lines.append(line)
        if line[3:4] != b"-":
            return b"".join(lines)
assert reply().startswith(b"220 ")
s.sendall(b"EHLO py.test\r\n")
ehlo = reply()
assert b"CHUNKING" in ehlo and b"BINARYMIME" in ehlo, ehlo
# a binary message: bare LF, bare CR, NUL and a lone dot line, in three pipelined chunks
msg = (b"Subject: binary\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
       b"Content-Transfer-Encoding: binary\r\n\r\n" + bytes(range(256)) + b"\n.\n\r.\r\n.\r\n")
open(path, "wb").write(msg)
cut = [0, 40, 200, len(msg)]
out = b"MAIL FROM:<a@x.test> BODY=BINARYMIME\r\nRCPT TO:<b@example.org>\r\n"
for i in range(3):
    part = msg[cut[i]:cut[i + 1]]
    out += b"BDAT %d%s\r\n" % (len(part), b" LAST" if i == 2 else b"") + part
s.sendall(out + b"NOOP\r\n")
got = [reply() for _ in range(6)]
assert got[0].startswith(b"250 2.1.0") and got[1].startswith(b"250 2.1.5"), got
assert got[2] == b"250 2.0.0 40 octets received\r\n" and got[3] == b"250 2.0.0 160 octets received\r\n", got
assert got[4].startswith(b"250 2.0.0 OK: queued as") and got[5].startswith(b"250 2.0.0 OK"), got
# DATA after BODY=BINARYMIME is refused; after a chunk too, and RSET clears it
s.sendall(b"MAIL FROM:<a@x.test> BODY=BINARYMIME\r\nRCPT TO:<b@example.org>\r\nDATA\r\nBDAT 3\r\nabcDATA\r\nRSET\r\n")
got = [reply() for _ in range(6)]
assert got[2].startswith(b"503 5.5.1") and got[3].startswith(b"250 2.0.0 3 octets") and got[4].startswith(b"503 5.5.1"), got
assert got[5].startswith(b"250 2.0.0"), got
s.sendall(b"QUIT\r\n")
assert reply().startswith(b"221")
PY
check "scripted client: pipelined chunks each answered, in order; DATA after BINARYMIME or BDAT is 503" \
  '[ $rc -eq 0 ] || { cat "$work/py"; false; }'
wait_lines "$work/out" 2
want=$(sha256sum < "$work/bin.eml" | cut -d" " -f1)
check "BINARYMIME message stored exactly as sent; JSON says body and chunked" \
  'head -1 "$work/out" | grep -q "\"sha256\":\"$want\".*\"body\":\"BINARYMIME\",\"chunked\":true,\"lmtp\":false"'
kill -TERM "$pid"; wait "$pid"; pid=

# 100 MiB in 1 MiB chunks, pipelined: spilled to a file, memory stays flat (no
# --json: its digest would read the whole mapped file into the process's RSS)
"$DUMP" --listen 127.0.0.1:0 --domain example.org --max-message-size 209715200 >"$work/out4" 2>"$work/log4" &
pid=$!
for i in $(seq 1 100); do grep -q "listening on" "$work/log4" && break; sleep 0.05; done
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/log4")
python3 - "$port" <<'PY' >"$work/py4" 2>&1; rc=$?
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=60)
f = s.makefile("rb")
def reply():
    while True:
        line = f.readline()
        if line[3:4] != b"-":
            return line
reply()
s.sendall(b"EHLO py.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.org>\r\n")
assert reply().startswith(b"250") and reply().startswith(b"250") and reply().startswith(b"250")
chunk = b"Subject: big\r\n\r\n" + (b"x" * 1022 + b"\r\n") * 1024
for i in range(100):
    s.sendall(b"BDAT %d%s\r\n" % (len(chunk), b" LAST" if i == 99 else b"") + chunk)
    chunk = chunk[-1048576:]
for i in range(99):
    got = reply()
    assert got.startswith(b"250 2.0.0 10") and got.endswith(b" octets received\r\n"), got
got = reply()
assert got.startswith(b"250 2.0.0 OK: queued as"), got
PY
hwm=$(sed -n 's/^VmHWM:[^0-9]*\([0-9]*\) kB/\1/p' /proc/$pid/status)
limit=32768
ldd "$B/.libs/libgsmtp-1.0.so" 2>/dev/null | grep -q libasan && limit=1048576
check "100 MiB in 100 pipelined BDAT chunks accepted with peak RSS ${hwm} KiB (< $limit KiB)" \
  '{ [ $rc -eq 0 ] || cat "$work/py4"; } && [ $rc -eq 0 ] && [ "$hwm" -lt $limit ]'
kill -TERM "$pid"; wait "$pid"; pid=

# a chunk past the size limit: drained and refused, the session goes on
start_dump "$work/log2" "$work/out2" --max-message-size 1000
python3 - "$port" <<'PY' >"$work/py2" 2>&1; rc=$?
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
f = s.makefile("rb")
def reply():
    while True:
        line = f.readline()
        if line[3:4] != b"-":
            return line
reply()
s.sendall(b"EHLO py.test\r\n"); reply()
s.sendall(b"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.org>\r\nBDAT 5000\r\n" + b"MAIL FROM:<e@x.test>\r\n" * 227
          + b"x" * (5000 - 22 * 227) + b"BDAT 3 LAST\r\nabcNOOP\r\n")
got = [reply() for _ in range(5)]
assert got[2].startswith(b"552 5.3.4") and got[3].startswith(b"552 5.3.4") and got[4].startswith(b"250 2.0.0 OK"), got
s.sendall(b"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.org>\r\nBDAT 3 LAST\r\nabc")
got = [reply() for _ in range(3)]
assert got[2].startswith(b"250 2.0.0 OK: queued as"), got
PY
check "a chunk past the size limit is drained and refused with 552; its content never runs; the session goes on" \
  '[ $rc -eq 0 ] || { cat "$work/py2"; false; }'
kill -TERM "$pid"; wait "$pid"; pid=

# Exim relays into dump-mail: it sends BDAT when CHUNKING is offered
start_dump "$work/log3" "$work/out3"
printf 'Subject: via exim\n\n.leading dot\nbody\n' | sh "$S/tests/peers/exim-relay.sh" "$port" smtp a@x.test b@example.org 2>"$work/exim"; rc=$?
if [ $rc -eq 77 ]; then
  skip "Exim relays by BDAT" "$(tail -1 "$work/exim")"
  skip "Exim: message as sent" "no Exim"
else
  check "Exim relays by BDAT (its log says K: CHUNKING used)" '[ $rc -eq 0 ] && grep -q " K C=\"250 2.0.0 OK" "$work/exim"'
  wait_lines "$work/out3" 1
  check "Exim: JSON says chunked, the dot line is content" \
    'grep -q "\"subject\":\"via exim\".*\"chunked\":true" "$work/out3"'
fi
kill -TERM "$pid"; wait "$pid"; pid=
exit $failed
