#!/usr/bin/env python3
"""parse-latency.py — the latency other sessions see while one client's large,
complex message is parsed (issue 10).  Loopback only; bounded in rounds and time.

One client sends a message of about 10 MiB to examples/dump-mail, ROUNDS times;
another sends NOOP in a loop and times each reply.  Reported: the NOOP round
trips from the sender's final "." to its 250 (the window in which the message
is parsed and handed to the application), as p50 / p99 / max, and the same for
the whole run.

  bench/parse-latency.py [--dump-mail PATH] [--rounds N] [--message complex|addresses|parts]
"""
import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

DEADLINE = 120          # seconds for the whole run, whatever happens


def complex_message():
    """About 10 MiB within every default MIME limit, costly to parse: 990 parts
    with 9 header fields each, long folded headers, 1000 addresses."""
    out = [b"From: Sender <sender@example.org>\r\n"]
    out.append(b"To: " + b",\r\n ".join(b"\"User %d\" <u%d@example.org>" % (i, i) for i in range(1000)) + b"\r\n")
    out.append(b"Subject: parse latency\r\n")
    for i in range(40):
        out.append(b"X-Long-%d: start" % i + b"".join(
            b"\r\n folded continuation line %d of a long header field" % j for j in range(200)) + b"\r\n")
    out.append(b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=_b\"\r\n\r\n")
    body = b"".join(b"line %d of a text part, plain words to fill it up to size\r\n" % j for j in range(160))
    for i in range(990):
        out.append(b"--=_b\r\nContent-Type: text/plain; charset=utf-8; name=\"p%d.txt\"\r\n" % i)
        out.append(b"Content-Disposition: attachment; filename=\"p%d.txt\"\r\n" % i)
        out.append(b"Content-Transfer-Encoding: 8bit\r\nContent-ID: <p%d@example.org>\r\n" % i)
        out.append(b"Content-Description: part %d\r\nX-A: a\r\nX-B: b\r\nX-C: c\r\nX-D: d\r\n\r\n" % i)
        out.append(body)
    out.append(b"--=_b--\r\n")
    return b"".join(out)


def addresses_message():
    """Within every default limit, GMime's worst: a To: of 4000 bare names and
    commas in 100 KB (it rescans the list from each comma), then 9 MiB of text."""
    names = b"a," * 4000 + b"b " * 45000
    folded = b"\r\n ".join(names[i:i + 500] for i in range(0, len(names), 500))
    body = b"".join(b"line %d of a text body, plain words to fill it up to size\r\n" % j for j in range(160000))
    return b"From: a@example.org\r\nTo: " + folded + b"\r\nSubject: addresses\r\n\r\n" + body


def parts_message():
    """Issue 10's attack: 1.4 million empty parts in 9.8 MB."""
    return (b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
            + b"--b\r\n\r\n" * 1400000 + b"--b--\r\n")


def reply(f):
    lines = []
    while True:
        line = f.readline()
        if not line:
            raise EOFError("connection closed")
        lines.append(line)
        if line[3:4] != b"-":
            return lines


def chat(s, f, line, expect):
    s.sendall(line + b"\r\n")
    r = reply(f)
    if not r[-1].startswith(expect):
        raise RuntimeError("%r: %r" % (line, r))


def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def main():
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump-mail", default=os.path.join(top, "examples", "dump-mail"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--message", choices=("complex", "addresses", "parts"), default="complex")
    a = ap.parse_args()
    message = {"complex": complex_message, "addresses": addresses_message,
               "parts": parts_message}[a.message]()
    if b"\r\n." in message:
        sys.exit("the message must need no dot-stuffing")

    proc = subprocess.Popen([a.dump_mail, "--listen", "127.0.0.1:0", "--domain", "example.org"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    timer = threading.Timer(DEADLINE, lambda: proc.kill())
    timer.start()
    try:
        port = None
        for line in proc.stderr:
            m = re.match(rb"listening on 127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
                break
        if port is None:
            sys.exit("dump-mail did not start")

        windows = []            # (start, end) of each final "." to 250
        done = threading.Event()
        errors = []

        def sender():
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=60)
                f = s.makefile("rb")
                reply(f)
                chat(s, f, b"EHLO sender.test", b"250 ")
                for _ in range(a.rounds):
                    chat(s, f, b"MAIL FROM:<a@x.test>", b"250 ")
                    chat(s, f, b"RCPT TO:<b@example.org>", b"250 ")
                    chat(s, f, b"DATA", b"354 ")
                    s.sendall(message)
                    start = time.monotonic()
                    s.sendall(b".\r\n")
                    r = reply(f)
                    windows.append((start, time.monotonic()))
                    if not r[-1].startswith(b"250 "):
                        raise RuntimeError("message: %r" % r)
                chat(s, f, b"QUIT", b"221 ")
            except Exception as e:          # reported below
                errors.append(e)
            finally:
                done.set()

        def prober():
            p = socket.create_connection(("127.0.0.1", port), timeout=60)
            pf = p.makefile("rb")
            reply(pf)
            chat(p, pf, b"EHLO prober.test", b"250 ")
            return p, pf

        p, pf = prober()
        t = threading.Thread(target=sender)
        t.start()
        samples = []            # (sent, rtt)
        while not done.is_set():
            # the server counts more than 100 NOOPs in a row against its
            # error budget (max-junk-commands): a fresh session every 90
            if len(samples) % 90 == 89:
                chat(p, pf, b"QUIT", b"221 ")
                p.close()
                p, pf = prober()
            t0 = time.monotonic()
            chat(p, pf, b"NOOP", b"250 ")
            samples.append((t0, time.monotonic() - t0))
            time.sleep(0.001)
        t.join()
        chat(p, pf, b"QUIT", b"221 ")
        if errors:
            sys.exit("sender: %s" % errors[0])

        def inside(t0, rtt):
            return any(t0 + rtt >= w0 and t0 <= w1 for w0, w1 in windows)
        during = [rtt * 1000 for t0, rtt in samples if inside(t0, rtt)]
        everything = [rtt * 1000 for _, rtt in samples]
        ends = [(w1 - w0) * 1000 for w0, w1 in windows]
        print("message: %s, %.1f MiB, %d rounds; end of DATA to 250: median %.0f ms"
              % (a.message, len(message) / 1048576.0, a.rounds, percentile(ends, 50)))
        print("| NOOP round trip (ms) | n | p50 | p99 | max |")
        print("|---|---|---|---|---|")
        for name, v in (("while the message is parsed", during), ("whole run", everything)):
            print("| %s | %d | %.2f | %.2f | %.2f |" % (name, len(v), percentile(v, 50), percentile(v, 99),
                                                     max(v) if v else float("nan")))
    finally:
        timer.cancel()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
