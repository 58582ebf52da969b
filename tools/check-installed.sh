#!/bin/sh
# Installs gsmtp to a scratch prefix and builds the examples out of tree against
# it with nothing but pkg-config, as an application would.
set -eu
prefix=$(mktemp -d)
out=$(mktemp -d)
trap 'rm -rf "$prefix" "$out"' EXIT
make install prefix="$prefix" >/dev/null
# the .pc file was written for configure's prefix: say where it really is now
sed -i "s|^prefix=.*|prefix=$prefix|" "$prefix/lib/pkgconfig/gsmtp-1.0.pc"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
for ex in dump-mail send-mail; do
  ${CC:-cc} -Wall -Wextra -Wno-unused-parameter -Werror -o "$out/$ex" "examples/$ex.c" $(pkg-config --cflags --libs gsmtp-1.0 gio-unix-2.0)
done
rc=0
LD_LIBRARY_PATH="$prefix/lib" "$out/dump-mail" --no-such-flag 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || { echo "installed dump-mail: expected exit 2, got $rc" >&2; exit 1; }
test -f "$prefix/include/gsmtp-1.0/gsmtp/gsmtp.h"
echo "installed library, headers and pkg-config file build the examples"
