#!/bin/sh
# exim-relay.sh PORT smtp|lmtp FROM TO... < message
# A private Exim (unpacked by tools/deps.sh test, see there) relays one message
# to 127.0.0.1:PORT over SMTP or LMTP, with CHUNKING (BDAT) when offered, and
# delivers it before it exits: 0 when delivered, 1 when not (its log on
# stderr), 77 when there is no Exim to run.  Its spool and config live in a
# directory of their own, removed at the end; it never listens.
set -u
exim=${GSMTP_EXIM:-/opt/gsmtp-test/exim4/usr/sbin/exim4}
[ -x "$exim" ] && getent passwd Debian-exim >/dev/null || { echo "no Exim at $exim (tools/deps.sh test unpacks one)" >&2; exit 77; }
[ "$(id -u)" -eq 0 ] || { echo "Exim's deliveries need root" >&2; exit 77; }
port=$1 protocol=$2 from=$3
shift 3
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
mkdir -p "$w/spool" "$w/log"
chmod 755 "$w"
chown -R Debian-exim:Debian-exim "$w/spool" "$w/log"
cat > "$w/exim.conf" <<EOC
exim_path = $exim
primary_hostname = relay.test
spool_directory = $w/spool
log_file_path = $w/log/%slog
exim_user = Debian-exim
exim_group = Debian-exim
keep_environment =
begin routers
to_gsmtp:
  driver = manualroute
  route_list = * 127.0.0.1
  self = send
  transport = to_gsmtp
  no_more
begin transports
to_gsmtp:
  driver = smtp
  protocol = $protocol
  port = $port
  allow_localhost
  hosts_try_chunking = *
EOC
"$exim" -C "$w/exim.conf" -odf -f "$from" "$@" 2>>"$w/log/stderr"
cat "$w/log/"* >&2
grep -q " Completed" "$w/log/mainlog" || exit 1
exit 0
