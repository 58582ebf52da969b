"""Load without loss: hundreds of concurrent sessions on loopback deliver
pipelined messages of random sizes, some clients dropping mid-message.  Every
message acknowledged with 250 must be delivered exactly once with identical
bytes (sha256 from dump-mail --json); no other message may be delivered.
Bounded in count (SESSIONS x MESSAGES) and time (DEADLINE)."""
import asyncio
import collections
import hashlib
import json
import random
import sys

SESSIONS, MESSAGES, DEADLINE = 300, 4, 120


async def reply(reader):
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("closed")
        if line[3:4] != b"-":
            return line


def make_message(rng, n):
    size = rng.choice([200, 3000, 20000, 150000])
    body = bytearray()
    while len(body) < size:
        line = bytes(rng.choice(b"abcdefghij .") for _ in range(rng.randint(0, 120)))
        body += line + b"\r\n"
    return b"Subject: stress %d\r\n\r\n" % n + bytes(body)


def stuff(msg):
    return b"\r\n".join((b"." + l) if l.startswith(b".") else l for l in msg.split(b"\r\n"))


async def session(port, sid, acked, rng):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await reply(reader)
        writer.write(b"EHLO stress%d.test\r\n" % sid)
        await reply(reader)
        for n in range(MESSAGES):
            msg = make_message(rng, sid * 100 + n)
            writer.write(b"MAIL FROM:<s%d@x.test>\r\nRCPT TO:<r@example.org>\r\nDATA\r\n" % sid)
            for code in (b"250", b"250", b"354"):
                assert (await reply(reader)).startswith(code)
            if rng.random() < 0.1:
                # drop mid-message: this one must never be delivered
                writer.write(stuff(msg)[: len(msg) // 2])
                await writer.drain()
                writer.transport.abort()
                return
            writer.write(stuff(msg) + b".\r\n")
            r = await reply(reader)
            if r.startswith(b"250"):
                acked.append(hashlib.sha256(msg).hexdigest())
        writer.write(b"QUIT\r\n")
        await reply(reader)
    finally:
        writer.close()


async def main(port):
    acked = []
    rng = random.Random(42)
    tasks = [session(port, i, acked, random.Random(rng.random())) for i in range(SESSIONS)]
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), DEADLINE)
    errors = [r for r in results if isinstance(r, Exception)]
    return acked, errors


port, out = int(sys.argv[1]), sys.argv[2]
acked, errors = asyncio.run(main(port))
assert not errors, errors[:3]
await_total = len(acked)
# give the server a moment to print the last lines
import time  # noqa: E402
for _ in range(100):
    with open(out) as f:
        delivered = [json.loads(l)["sha256"] for l in f if l.strip()]
    if len(delivered) >= await_total:
        break
    time.sleep(0.05)
a, d = collections.Counter(acked), collections.Counter(delivered)
assert a == d, "acked %d, delivered %d, acked-not-delivered %d, delivered-not-acked %d" % (
    len(acked), len(delivered), len(a - d), len(d - a))
print("stress: %d messages acknowledged and delivered exactly once" % len(acked))
