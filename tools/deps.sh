#!/bin/sh
# Installs the Debian packages gsmtp needs to build and test, when missing.
# As root it runs apt-get; otherwise it prints the exact command and stops.
#   tools/deps.sh          build and run (dump-mail, send-mail)
#   tools/deps.sh test     also what the test suite talks to
set -e
need="autoconf automake libtool pkg-config make gcc libglib2.0-dev libgmime-3.0-dev glib-networking openssl"
if [ "${1:-}" = test ]; then
  need="$need python3 python3-aiosmtpd python3-cryptography swaks valgrind postfix clang gobject-introspection libgirepository1.0-dev python3-gi gir1.2-gmime-3.0 gi-docgen"
fi
missing=""
for p in $need; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "gsmtp needs these Debian packages; run as root:" >&2
  echo "  apt-get update && apt-get install -y$missing" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Postfix only for its smtp-sink test peer: unconfigured, so its daemon never starts
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq $missing >/dev/null
