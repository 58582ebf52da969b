#!/bin/sh
# Installs the Debian packages gsmtp needs to build and test, when missing.
# As root it runs apt-get; otherwise it prints the exact command and stops.
#   tools/deps.sh          build and run (dump-mail, send-mail)
#   tools/deps.sh test     also what the test suite talks to
# Exim (the BDAT peer) conflicts with Postfix as a package: for the tests it is
# unpacked beside it, under $EXIM_DIR, and never installed or started as a service.
set -e
EXIM_DIR=/opt/gsmtp-test/exim4
exim_unpacked() { [ -x "$EXIM_DIR/usr/sbin/exim4" ] && getent passwd Debian-exim >/dev/null; }
need="autoconf automake libtool pkg-config make gcc libglib2.0-dev libgmime-3.0-dev libgnutls28-dev glib-networking openssl"
if [ "${1:-}" = test ]; then
  need="$need python3 python3-aiosmtpd python3-cryptography swaks valgrind postfix clang gobject-introspection libgirepository1.0-dev python3-gi gir1.2-gmime-3.0 gi-docgen haproxy"
  # what exim4-daemon-light links with, as it would be installed
  need="$need libidn12 libgnutls-dane0 libnsl2 libdb5.3 libpcre2-8-0"
fi
missing=""
for p in $need; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
unpack_exim() {
  [ "${1:-}" = test ] && ! exim_unpacked || return 0
  d=$(mktemp -d)
  (cd "$d" && apt-get download -qq exim4-daemon-light exim4-base exim4-config >/dev/null 2>&1) || { rm -rf "$d"; echo "deps: cannot download Exim; its tests will be skipped" >&2; return 0; }
  mkdir -p "$EXIM_DIR"
  for f in "$d"/*.deb; do dpkg -x "$f" "$EXIM_DIR"; done
  rm -rf "$d"
  # the user the binary was built to run deliveries as (exim4-base's postinst makes it)
  getent passwd Debian-exim >/dev/null ||
    adduser --system --group --quiet --allow-bad-names --no-create-home --home /var/spool/exim4 Debian-exim
}
if [ -z "$missing" ]; then
  [ "$(id -u)" -eq 0 ] && unpack_exim "${1:-}"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "gsmtp needs these Debian packages; run as root:" >&2
  echo "  apt-get update && apt-get install -y$missing" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Postfix only for its smtp-sink test peer: unconfigured, so its daemon never starts.
# HAProxy: tests/test-haproxy.sh starts its own on loopback; Debian's default
# configuration binds no port.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq $missing >/dev/null
unpack_exim "${1:-}"
