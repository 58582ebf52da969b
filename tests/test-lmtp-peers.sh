#!/bin/bash
# LMTP (RFC 2033) against dump-mail --lmtp from outside: Python's smtplib.LMTP,
# swaks --protocol LMTP, Postfix's lmtp delivery agent (a private Postfix,
# as root) and Exim's smtp transport in LMTP mode (with BDAT).
set -u
B=${GSMTP_BUILDDIR:-.}
S=${GSMTP_SRCDIR:-.}
DUMP="$B/examples/dump-mail"
. "$S/tests/peers/private-postfix.sh"
work=$(mktemp -d)
pid=
cleanup() {
  private_postfix_stop "$work"
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
. "$S/tests/tap.sh"
wait_for() { for i in $(seq 1 200); do grep -q "$1" "$2" && return 0; sleep 0.05; done; return 1; }
echo "1..7"

"$DUMP" --lmtp --listen 127.0.0.1:0 --domain example.org --json >"$work/out" 2>"$work/log" &
pid=$!
wait_for "listening on" "$work/log"
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/log")

# smtplib.LMTP reads one reply after the data (Python's LMTP class does not know
# RFC 2033 4.2): the others are read with getreply(), as its documentation says to
python3 - "$port" <<'PY' >"$work/py" 2>&1; rc=$?
import smtplib, sys
s = smtplib.LMTP("127.0.0.1", int(sys.argv[1]), local_hostname="py.test")
code, text = s.ehlo()
assert code == 250 and b"PIPELINING" in text and b"ENHANCEDSTATUSCODES" in text, (code, text)
assert s.helo()[0] == 500
s.ehlo_or_helo_if_needed()
assert s.mail("a@x.test")[0] == 250
assert s.rcpt("b@example.org")[0] == 250
assert s.rcpt("x@elsewhere.test")[0] == 550
assert s.rcpt("c@example.org")[0] == 250
first = s.data(b"Subject: smtplib lmtp\r\n\r\nhello\r\n")
second = s.getreply()
assert first[0] == 250 and second[0] == 250, (first, second)
assert s.noop()[0] == 250
s.quit()
PY
check "smtplib.LMTP: LHLO, HELO refused, one reply per accepted recipient" '[ $rc -eq 0 ] || { cat "$work/py"; false; }'
wait_for '"subject":"smtplib lmtp"' "$work/out"
check "JSON says lmtp, with the two accepted recipients" \
  'grep "\"subject\":\"smtplib lmtp\"" "$work/out" | grep -q "\"recipients\":\[\"b@example.org\",\"c@example.org\"\].*\"lmtp\":true"'

swaks --server "127.0.0.1:$port" --protocol LMTP --helo swaks.test --from a@x.test \
  --to b@example.org,x@elsewhere.test,c@example.org --header "Subject: via swaks" >"$work/swaks" 2>&1
# after the dot: exactly two replies (b and c), then QUIT's
check "swaks --protocol LMTP: two replies after the message, then QUIT's" \
  '[ "$(sed -n "/^ -> \.$/,\$p" "$work/swaks" | grep -c "^<-  250 2.0.0 OK: queued as")" -eq 2 ] && grep -q "^<-  221 " "$work/swaks"'

# Postfix's lmtp delivery agent into dump-mail: a private instance (its own config
# and queue, no listener), as tools/interop.sh runs one; about a second
if [ "$(id -u)" -ne 0 ] || ! command -v postfix >/dev/null; then
  skip "Postfix lmtp delivers into dump-mail" "needs root and postfix"
else
  private_postfix_start "$work" "default_transport = lmtp:inet:127.0.0.1:$port" >/dev/null
  printf 'Subject: via postfix lmtp\n\nrelayed\n' | sendmail -C "$work/pf" -f a@x.test b@example.org c@example.org
  for i in $(seq 1 200); do [ "$(grep -c "status=sent" "$work/q/maillog" 2>/dev/null)" -ge 2 ] && break; sleep 0.05; done
  check "Postfix lmtp delivers into dump-mail: sent, per recipient, by LMTP" \
    'grep -q "postfix/lmtp.*to=<b@example.org>.*status=sent (250 2.0.0" "$work/q/maillog" &&
     grep -q "postfix/lmtp.*to=<c@example.org>.*status=sent (250 2.0.0" "$work/q/maillog" &&
     grep "\"subject\":\"via postfix lmtp\"" "$work/out" | grep -q "\"helo\":\"relay.test\".*\"lmtp\":true" ||
     { cat "$work/q/maillog"; false; }'
  private_postfix_stop "$work"
fi

# Exim's smtp transport with protocol = lmtp: it also sends BDAT when offered
printf 'Subject: via exim lmtp\n\nhello\n' |
  sh "$S/tests/peers/exim-relay.sh" "$port" lmtp a@x.test b@example.org c@example.org 2>"$work/exim"; rc=$?
if [ $rc -eq 77 ]; then
  skip "Exim LMTP with BDAT: one reply per recipient" "$(tail -1 "$work/exim")"
  skip "Exim LMTP: JSON" "no Exim"
else
  check "Exim LMTP with BDAT: each recipient delivered on its own reply" \
    '[ $rc -eq 0 ] && grep -q "=> b@example.org .* K C=\"250 2.0.0 OK" "$work/exim" && grep -q "> c@example.org .* K C=\"250 2.0.0 OK" "$work/exim"'
  wait_for '"subject":"via exim lmtp"' "$work/out"
  check "Exim LMTP: JSON says chunked and lmtp" \
    'grep "\"subject\":\"via exim lmtp\"" "$work/out" | grep -q "\"chunked\":true,\"lmtp\":true"'
fi
kill -TERM "$pid"; wait "$pid"; rc=$?; pid=
check "dump-mail --lmtp: SIGTERM exits 0" '[ $rc -eq 0 ]'
exit $failed
