#!/bin/sh
# The shared library exports g_smtp_* and nothing else (json-glib once shipped
# with an empty -fvisibility=hidden and never noticed).
echo "1..1"
lib=$(ls "${GSMTP_BUILDDIR:-.}"/.libs/libgsmtp-1.0.so 2>/dev/null | head -1)
if [ -z "$lib" ]; then echo "ok 1 # SKIP no shared library built"; exit 0; fi
bad=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^g_smtp_' | grep -v '^_' || true)
count=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -c '^g_smtp_')
if [ -n "$bad" ] || [ "$count" -lt 50 ]; then
  echo "not ok 1 - exports: $count g_smtp_ symbols; unexpected: $bad"
  exit 1
fi
echo "ok 1 - $count symbols, all g_smtp_*"
