#!/bin/sh
# Load without loss, against dump-mail --json (see tests/test-stress.py).
B=${GSMTP_BUILDDIR:-.}
S=${GSMTP_SRCDIR:-.}
echo "1..1"
work=$(mktemp -d)
"$B/examples/dump-mail" --listen 127.0.0.1:0 --domain example.org --json --max-connections 1000 \
    >"$work/out" 2>"$work/log" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
for i in $(seq 1 100); do grep -q "listening on" "$work/log" && break; sleep 0.05; done
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/log")
if timeout 180 python3 "$S/tests/test-stress.py" "$port" "$work/out"; then
  echo "ok 1 - every acknowledged message delivered once, byte for byte"
else
  echo "not ok 1 - load lost or duplicated a message"; exit 1
fi
