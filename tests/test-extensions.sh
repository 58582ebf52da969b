#!/bin/bash
# SMTPUTF8 (RFC 6531), DSN (RFC 3461), REQUIRETLS (RFC 8689) and LIMITS (RFC
# 9422) against real clients, through dump-mail's JSON (../shared/CONTRACT.md):
# Python's smtplib, and a Postfix of its own (smtputf8_enable = yes) relaying
# into dump-mail.  The Postfix part needs root and Postfix installed (tools/deps.sh
# test); without them it is skipped and says why.  Loopback only; everything
# started here is stopped by PID (Postfix through its own pid file).
set -u
B=${GSMTP_BUILDDIR:-.}
S=${GSMTP_SRCDIR:-.}
DUMP="$B/examples/dump-mail"
. "$S/tests/peers/private-postfix.sh"
work=$(mktemp -d)
pids=
cleanup() {
  private_postfix_stop "$work"
  for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
. "$S/tests/tap.sh"
echo "1..13"

# start_dump NAME ADDRESS ARGS...: dump-mail on a free port; sets $port
start_dump() {
  local name=$1 addr=$2; shift 2
  "$DUMP" --listen "$addr:0" --json "$@" >"$work/$name.out" 2>"$work/$name.log" &
  pids="$pids $!"
  port=
  for i in $(seq 1 200); do
    port=$(sed -n "s/^listening on $addr:\([0-9]*\)\$/\1/p" "$work/$name.log")
    [ -n "$port" ] && break
    sleep 0.05
  done
}
# wait_lines FILE N: until FILE has N lines (at most 30 s)
wait_lines() {
  for i in $(seq 1 300); do
    [ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}
json_field() { python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).read().splitlines()[int(sys.argv[2])]); print(json.dumps(eval(sys.argv[3], {"d": d}), ensure_ascii=False))' "$@"; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/key.pem" \
  -out "$work/cert.pem" -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
start_dump smtplib 127.0.0.1 --domain example.org --domain 'bücher.example' --max-recipients 50 \
  --tls-cert "$work/cert.pem" --tls-key "$work/key.pem"

if ! command -v python3 >/dev/null; then
  for t in 1 2 3 4 5 6 7; do skip "smtplib test $t" "python3 is not installed"; done
else
  python3 - "$port" "$work/cert.pem" >"$work/py.out" 2>&1 <<'PY'; rc=$?
import smtplib, ssl, sys
port, cert = int(sys.argv[1]), sys.argv[2]
def expect(code, got, what):
    if got[0] != code:
        sys.exit("%s: want %d, got %r" % (what, code, got))

s = smtplib.SMTP("127.0.0.1", port, timeout=10)
s.ehlo("client.test")
assert s.has_extn("smtputf8") and s.has_extn("dsn"), s.esmtp_features
assert s.esmtp_features["limits"] == "RCPTMAX=50", s.esmtp_features
assert not s.has_extn("requiretls"), "REQUIRETLS offered in cleartext"
print("features ok")
# SMTPUTF8: UTF-8 sender, recipients (U-label and A-label of a local domain) and header
msg = "From: jörg@x.test\r\nSubject: grüße\r\n\r\nhallo\r\n".encode()
s.sendmail("jörg@x.test", ["用户@example.org", "ü@bücher.example", "u@xn--bcher-kva.example"], msg,
           mail_options=["SMTPUTF8", "BODY=8BITMIME"])
print("smtputf8 ok")
# DSN, with xtext that needs decoding
s.sendmail("a@x.test", ["b@example.org", "c@example.org"], b"Subject: dsn\r\n\r\nx\r\n",
           mail_options=["RET=HDRS", "ENVID=QQ+2B314159"],
           rcpt_options=["NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;b+40example.org"])
print("dsn ok")
# malformed and unknown parameters
expect(501, s.mail("a@x.test", ["RET=NOPE"]), "RET=NOPE")
expect(501, s.mail("a@x.test", ["ENVID=a+2", "RET=FULL"]), "bad xtext")
expect(555, s.mail("a@x.test", ["X-NOPE=1"]), "unknown MAIL parameter")
expect(530, s.mail("a@x.test", ["REQUIRETLS"]), "REQUIRETLS in cleartext")
expect(250, s.mail("a@x.test"), "MAIL")
expect(501, s.rcpt("b@example.org", ["NOTIFY=NEVER,SUCCESS"]), "NEVER with SUCCESS")
expect(501, s.rcpt("b@example.org", ["NOTIFY=DELAY", "NOTIFY=FAILURE"]), "NOTIFY twice")
expect(555, s.rcpt("b@example.org", ["X-NOPE=1"]), "unknown RCPT parameter")
s.rset()
print("refusals ok")
# REQUIRETLS after STARTTLS
ctx = ssl.create_default_context(cafile=cert)
s.starttls(context=ctx)
s.ehlo("client.test")
assert s.has_extn("requiretls"), s.esmtp_features
s.sendmail("a@x.test", ["b@example.org"], b"Subject: tls\r\n\r\nx\r\n", mail_options=["REQUIRETLS"])
print("requiretls ok")
s.quit()
PY
  check "smtplib: SMTPUTF8, DSN, LIMITS offered; REQUIRETLS only under TLS; every refusal right" \
    '[ $rc -eq 0 ] || { cat "$work/py.out" >&2; false; }'
  wait_lines "$work/smtplib.out" 3
  f="$work/smtplib.out"
  check "JSON: smtputf8 true, UTF-8 sender and recipients; U-label and A-label of a local domain both local" \
    '[ "$(json_field "$f" 0 "[d[\"smtputf8\"], d[\"sender\"], d[\"recipients\"]]")" = "[true, \"jörg@x.test\", [\"用户@example.org\", \"ü@bücher.example\", \"u@xn--bcher-kva.example\"]]" ]'
  check "JSON: the UTF-8 subject arrives decoded" \
    '[ "$(json_field "$f" 0 "d[\"subject\"]")" = "\"grüße\"" ]'
  check "JSON: dsn ret and decoded envid" \
    '[ "$(json_field "$f" 1 "d[\"dsn\"]")" = "{\"ret\": \"HDRS\", \"envid\": \"QQ+314159\"}" ]'
  check "JSON: recipient_params parallel to recipients, ORCPT decoded" \
    '[ "$(json_field "$f" 1 "d[\"recipient_params\"]")" = "[{\"notify\": [\"SUCCESS\", \"DELAY\"], \"orcpt\": \"rfc822;b@example.org\"}, {\"notify\": [\"SUCCESS\", \"DELAY\"], \"orcpt\": \"rfc822;b@example.org\"}]" ]'
  check "JSON: no SMTPUTF8 and no DSN where none was asked" \
    '[ "$(json_field "$f" 1 "[d[\"smtputf8\"], d[\"requiretls\"]]")" = "[false, false]" ] && [ "$(json_field "$f" 0 "[d[\"dsn\"], d[\"recipient_params\"][0]]")" = "[{\"ret\": null, \"envid\": null}, {\"notify\": null, \"orcpt\": null}]" ]'
  check "JSON: requiretls true after STARTTLS" \
    '[ "$(json_field "$f" 2 "[d[\"requiretls\"], d[\"tls\"]]")" = "[true, true]" ]'
fi

# ---- Postfix relaying into dump-mail --------------------------------------------
why=
[ "$(id -u)" -eq 0 ] || why="not root (Postfix's master runs as root)"
[ -z "$why" ] && { [ -x /usr/sbin/postfix ] && [ -x /usr/sbin/sendmail ] || why="postfix is not installed (tools/deps.sh test)"; }
[ -z "$why" ] && { getent passwd postfix >/dev/null && getent group postdrop >/dev/null || why="no postfix user or postdrop group"; }
[ -z "$why" ] && ! command -v python3 >/dev/null && why="python3 is not installed"
if [ -n "$why" ]; then
  for t in "relays with SMTPUTF8" "Received says UTF8SMTP" "UTF-8 ORCPT decoded" "DSN: RET, ENVID, NOTIFY, ORCPT" \
           "relays an ASCII message without SMTPUTF8" "left nothing in its queue"; do
    skip "Postfix: $t" "$why"
  done
  exit $failed
fi
mkdir -p "$work/md"
# on 127.0.0.2: Postfix takes its own inet_interfaces (127.0.0.1) for a
# mail loop and would defer everything sent there
start_dump postfix 127.0.0.2 --domain example.org --domain 'bücher.example' --maildir "$work/md"
if ! private_postfix_start "$work" "relayhost = [127.0.0.2]:$port" "smtputf8_enable = yes" \
       "smtp_tls_security_level = none" >"$work/pf.log"; then
  cat "$work/pf.log" >&2
  for t in 1 2 3 4 5 6; do notok "Postfix: could not start a private instance"; done
  exit 1
fi
pf="$work/pf"
printf 'From: jörg@x.test\nSubject: über Postfix\n\nrelayed\n' | \
  sendmail -C "$pf" -f 'jörg@x.test' 'ünï@bücher.example'
printf 'Subject: dsn via Postfix\n\nrelayed\n' | \
  sendmail -C "$pf" -N success,delay -R hdrs -V 'env id+1' -f a@x.test b@example.org
printf 'Subject: plain via Postfix\n\nrelayed\n' | sendmail -C "$pf" -f a@x.test c@example.org
wait_lines "$work/postfix.out" 3 || { cat "$work/q/maillog" >&2; }
f="$work/postfix.out"
line() { grep -n "$1" "$f" | head -1 | cut -d: -f1; }
u=$(( $(line 'über Postfix') - 1 )); d=$(( $(line 'dsn via Postfix') - 1 )); p=$(( $(line 'plain via Postfix') - 1 ))
check "Postfix: relays with SMTPUTF8 (UTF-8 sender, recipient, subject)" \
  '[ "$(json_field "$f" $u "[d[\"smtputf8\"], d[\"sender\"], d[\"recipients\"], d[\"subject\"]]")" = "[true, \"jörg@x.test\", [\"ünï@bücher.example\"], \"über Postfix\"]" ]'
check "Postfix: Received says with UTF8SMTP" \
  'grep -l "über Postfix" "$work/md/new/"* | xargs grep -q "^Received: from relay.test.* with UTF8SMTP id"'
# Postfix 3.7 sends ORCPT=utf-8;\x{FC}n\x{EF}@b\x{FC}cher.example (RFC 6533 xtext form)
check "Postfix: its ORCPT for a UTF-8 recipient decodes to that recipient" \
  'json_field "$f" $u "d[\"recipient_params\"][0][\"orcpt\"]" | grep -q ";ünï@bücher.example\"$"'
check "Postfix: DSN RET, ENVID (xtext-decoded), NOTIFY, ORCPT arrive" \
  '[ "$(json_field "$f" $d "[d[\"dsn\"], d[\"recipient_params\"]]")" = "[{\"ret\": \"HDRS\", \"envid\": \"env id+1\"}, [{\"notify\": [\"SUCCESS\", \"DELAY\"], \"orcpt\": \"rfc822;b@example.org\"}]]" ]'
check "Postfix: an ASCII message goes without SMTPUTF8" \
  '[ "$(json_field "$f" $p "d[\"smtputf8\"]")" = "false" ]'
check "Postfix: its queue is empty (every message was accepted)" \
  '[ -z "$(find "$work/q/deferred" "$work/q/active" "$work/q/incoming" -type f 2>/dev/null)" ]'
[ $failed -ne 0 ] && { echo "# Postfix log:"; sed 's/^/# /' "$work/q/maillog" 2>/dev/null | tail -30; }
exit $failed
