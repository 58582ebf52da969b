#!/bin/sh
# GObject Introspection: Python (PyGObject) drives a gsmtp server and client.
B=${GSMTP_BUILDDIR:-.}
S=${GSMTP_SRCDIR:-.}
echo "1..1"
if [ ! -f "$B/GSmtp-1.0.typelib" ]; then echo "ok 1 # SKIP no typelib (gobject-introspection not installed)"; exit 0; fi
if ! /usr/bin/python3 -c "import gi" 2>/dev/null; then echo "ok 1 # SKIP python3-gi not installed"; exit 0; fi
# an ASan build cannot be loaded into a Python that was not started with ASan
if ldd "$B/.libs/libgsmtp-1.0.so" 2>/dev/null | grep -q libasan; then echo "ok 1 # SKIP sanitizer build"; exit 0; fi
if GI_TYPELIB_PATH="$B${GI_TYPELIB_PATH:+:$GI_TYPELIB_PATH}" LD_LIBRARY_PATH="$B/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
   timeout 60 /usr/bin/python3 "$S/tests/test-gi.py"; then
  echo "ok 1 - Python callbacks for RCPT and DATA, the gsmtp client from Python"
else
  echo "not ok 1 - tests/test-gi.py failed"; exit 1
fi
