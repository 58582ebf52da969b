#!/bin/sh
# Installs gsmtp to a scratch prefix and builds the examples out of tree against
# it with nothing but pkg-config, as an application would.
set -eu
prefix=$(mktemp -d)
out=$(mktemp -d)
trap 'rm -rf "$prefix" "$out"' EXIT
make install prefix="$prefix" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
for ex in dump-mail send-mail; do
  ${CC:-cc} -Wall -Wextra -Werror -o "$out/$ex" "examples/$ex.c" $(pkg-config --define-variable=prefix="$prefix" --cflags --libs gsmtp-1.0)
done
rc=0
LD_LIBRARY_PATH="$prefix/lib" "$out/dump-mail" --no-such-flag 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || { echo "installed dump-mail: expected exit 2, got $rc" >&2; exit 1; }
test -f "$prefix/include/gsmtp-1.0/gsmtp/gsmtp.h"
echo "installed library, headers and pkg-config file build the examples"
