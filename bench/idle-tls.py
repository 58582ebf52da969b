#!/usr/bin/env python3
"""Memory of idle sessions, plain and after STARTTLS, in a dump-mail of this tree.

usage: bench/idle-tls.py [--count N] [--timeout S]

Starts examples/dump-mail with a certificate made now (openssl), opens N
sessions that greet (EHLO) and stay silent, and reads the server's RSS before
and after; then the same with N sessions that do STARTTLS, finish the
handshake and greet again.  Prints one Markdown table.  Loopback only; every
step bounded by --timeout.  Figures go in docs/performance.md and issue notes,
never in tests.
"""
import argparse
import os
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    return 0


def reply(f):
    while True:
        line = f.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        if line[3:4] != b"-":
            return line


def start_server(tmp, cert, key, count):
    cmd = [os.path.join(TOP, "libtool"), "--mode=execute", os.path.join(TOP, "examples", "dump-mail"),
           "--listen", "127.0.0.1:0", "--domain", "*", "--max-connections", str(count + 16),
           "--tls-cert", cert, "--tls-key", key]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    line = proc.stderr.readline().decode()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError("dump-mail did not start: " + line)
    return proc, int(line.rsplit(":", 1)[1])


def measure(mode, count, deadline, tmp, cert, key):
    proc, port = start_server(tmp, cert, key, count)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    keep = []
    try:
        time.sleep(0.5)
        before = rss_kib(proc.pid)
        for _ in range(count):
            if time.monotonic() > deadline:
                raise TimeoutError("out of time after %d sessions" % len(keep))
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            f = s.makefile("rb")
            reply(f)
            s.sendall(b"EHLO bench.example\r\n")
            reply(f)
            if mode == "tls":
                s.sendall(b"STARTTLS\r\n")
                reply(f)
                s = ctx.wrap_socket(s)
                f = s.makefile("rb")
                s.sendall(b"EHLO bench.example\r\n")
                reply(f)
            keep.append((s, f))
        time.sleep(1)
        after = rss_kib(proc.pid)
        return before, after
    finally:
        for s, f in keep:
            s.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--timeout", type=float, default=300)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    count = min(a.count, hard - 200)
    deadline = time.monotonic() + a.timeout
    tmp = tempfile.mkdtemp(prefix="idle-tls-")
    try:
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print("| sessions | kind | server RSS before | after | KiB per session |")
        print("|---|---|---|---|---|")
        for mode in ("plain", "tls"):
            before, after = measure(mode, count, deadline, tmp, cert, key)
            print("| %d | %s | %d KiB | %d KiB | %.1f |" % (count, "after STARTTLS" if mode == "tls" else "plain",
                                                           before, after, (after - before) / count))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
