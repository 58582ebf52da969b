"""scripted-peer.py — an SMTP/LMTP server for test-client that misbehaves on purpose,
and speaks the extensions no installed peer has (CHUNKING, BINARYMIME, REQUIRETLS,
XOAUTH2, OAUTHBEARER).  Configured by a JSON object in argv[1]:

  lmtp            speak LMTP: LHLO, one reply per accepted recipient after the data
  ehlo            extension lines to advertise (default PIPELINING, 8BITMIME,
                  SIZE 1000000, ENHANCEDSTATUSCODES); STARTTLS is added when
                  cert/key are given, AUTH when auth is
  cert, key       PEM files: STARTTLS
  client_ca       ask for a client certificate signed by this PEM file's CA; prints
                  {"event": "tls", "client_cert": its common name, or ""}
  auth            mechanisms to offer, e.g. ["XOAUTH2", "OAUTHBEARER"]; the good
                  password is "secret", the good token is "token" (both overridable)
  split           write every reply in pieces of this many bytes, one send each
                  (1: one byte per packet)
  ehlo_split_at   write the EHLO reply in two sends, split after this byte
  rcpt_replies    {local part: reply line} for RCPT
  big_reply_for   a local part refused with a 60-line 550 of about 5 KiB
  lmtp_replies    {local part: reply line} after the data (LMTP)
  reply_421       a command ("EHLO", "MAIL", "RCPT", "DATA", "DOT", "BDAT") answered
                  421, after which the connection is closed
  rcpt_421_index  with reply_421 "RCPT": which RCPT of the transaction (0-based)
  idle_421_after  after this many messages on a connection, say 421 and close at once
                  (as a server's idle timeout does); prints {"event": "idle-closed"}
  late_first      the first message's end of data is answered this many seconds late
  data_delay      every end of data is answered this many seconds late
  hold            answer no end of data until this many transactions wait for their
                  answer, then print {"event": "all-waiting"} and wait for a line
                  "release" on stdin
  extra_reply     a reply line sent, unasked, with each reply to the end of data;
                  prints {"event": "extra-sent"}

Prints "listening on 127.0.0.1:PORT", then one event per line, a GVariant a{sv} in
text form: "connect", "tls", "message" (the envelope lines, the data as received and
unstuffed: its sha256, and in base64 up to 16 KiB), "auth", "closed", "idle-closed",
"all-waiting".  Exits when its stdin closes.  Loopback only."""
import asyncio
import base64
import hashlib
import json
import socket
import ssl
import sys

CFG = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
STATE = {"sessions": 0, "messages": 0, "waiting": 0, "max_waiting": 0}
RELEASE = None          # asyncio.Event: a "release" line came on stdin


def gvariant(value):
    """GVariant text format, so that the C tests parse events with g_variant_parse()."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return "int64 %d" % value
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "@as [%s]" % ", ".join(gvariant(v) for v in value)
    raise TypeError(value)


def emit(**event):
    if sys.stdout.closed:
        return
    print("{%s}" % ", ".join("%s: <%s>" % (json.dumps(k), gvariant(v))
                             for k, v in event.items() if v is not None), flush=True)


class Closed(Exception):
    pass


class Session:
    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        STATE["sessions"] += 1
        self.id = STATE["sessions"]
        self.tls = False
        self.helo = None
        self.commands = []
        self.n_messages = 0
        self.reset()

    def reset(self):
        self.mail = None
        self.rcpts = []
        self.accepted = []
        self.chunks = []

    async def send(self, text, split=None):
        data = text.encode()
        split = split if split is not None else CFG.get("split", 0)
        if not split:
            self.writer.write(data)
            await self.writer.drain()
            return
        for i in range(0, len(data), split):
            self.writer.write(data[i:i + split])
            await self.writer.drain()
            await asyncio.sleep(0.0003)

    async def reply(self, code, lines):
        if isinstance(lines, str):
            lines = [lines]
        text = "".join("%d%s%s\r\n" % (code, "-" if i < len(lines) - 1 else " ", line)
                       for i, line in enumerate(lines))
        await self.send(text)

    async def line(self):
        raw = await self.reader.readline()
        if not raw:
            raise Closed()
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        self.commands.append(text)
        return text

    async def closing(self, what):
        await self.reply(421, "4.3.2 %s: closing" % what)
        raise Closed()

    def ehlo_lines(self):
        ext = list(CFG.get("ehlo", ["PIPELINING", "8BITMIME", "SIZE 1000000", "ENHANCEDSTATUSCODES"]))
        if CFG.get("cert") and not self.tls:
            ext.append("STARTTLS")
        if CFG.get("auth"):
            ext.append("AUTH " + " ".join(CFG["auth"]))
        return ["peer.test"] + ext

    async def run(self):
        await self.reply(220, "peer.test ESMTP scripted")
        while True:
            cmd = await self.line()
            verb = cmd.split(" ", 1)[0].upper()
            if CFG.get("reply_421") == verb and verb != "RCPT":
                await self.closing(verb)
            if verb == "EHLO" and self.tls and CFG.get("ehlo_refused_after_tls"):
                await self.reply(502, "5.5.1 EHLO not here after TLS")
            elif verb in ("EHLO", "LHLO"):
                self.helo = cmd[5:]
                self.reset()
                lines = self.ehlo_lines()
                text = "".join("250%s%s\r\n" % ("-" if i < len(lines) - 1 else " ", l)
                               for i, l in enumerate(lines))
                cut = CFG.get("ehlo_split_at")
                if cut:
                    await self.send(text[:cut], split=0)
                    await asyncio.sleep(0.05)
                    await self.send(text[cut:], split=0)
                else:
                    await self.send(text)
            elif verb == "HELO":
                self.helo = cmd[5:]
                await self.reply(250, "peer.test")
            elif verb == "STARTTLS":
                await self.reply(220, "2.0.0 go ahead")
                ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                ctx.load_cert_chain(CFG["cert"], CFG["key"])
                if CFG.get("client_ca"):
                    ctx.verify_mode = ssl.CERT_OPTIONAL
                    ctx.load_verify_locations(CFG["client_ca"])
                await self.writer.start_tls(ctx)
                self.tls = True
                self.helo = None
                peer_cert = self.writer.get_extra_info("peercert")
                subject = dict(x[0] for x in peer_cert["subject"]) if peer_cert else {}
                emit(event="tls", session=self.id, client_cert=subject.get("commonName", ""))
            elif verb == "AUTH":
                await self.auth(cmd)
            elif verb == "MAIL":
                self.reset()
                self.mail = cmd
                await self.reply(250, "2.1.0 ok")
            elif verb == "RCPT":
                await self.rcpt(cmd)
            elif verb == "DATA":
                if self.mail is None or not self.accepted:
                    await self.reply(554, "5.5.1 no valid recipients")
                    continue
                await self.reply(354, "go ahead")
                await self.data()
            elif verb == "BDAT":
                await self.bdat(cmd)
            elif verb == "RSET":
                self.reset()
                await self.reply(250, "2.0.0 ok")
            elif verb == "NOOP":
                await self.reply(250, "2.0.0 ok")
            elif verb == "QUIT":
                await self.reply(221, "2.0.0 bye")
                raise Closed()
            else:
                await self.reply(500, "5.5.2 what")

    async def auth(self, cmd):
        parts = cmd.split(" ")
        mech = parts[1].upper()
        if len(parts) > 2:
            response = parts[2]
        else:
            await self.reply(334, "")
            response = await self.line()
        raw = base64.b64decode(response)
        emit(event="auth", mechanism=mech, response=raw.decode("utf-8", "replace"), tls=self.tls)
        good = False
        if mech == "PLAIN":
            good = raw.split(b"\0")[1:] == [b"user", CFG.get("password", "secret").encode()]
        elif mech in ("XOAUTH2", "OAUTHBEARER"):
            good = ("auth=Bearer %s\x01" % CFG.get("token", "token")).encode() in raw
            if not good:
                error = base64.b64encode(b'{"status":"401","schemes":"bearer","scope":"mail"}').decode()
                await self.reply(334, error)
                await self.line()      # the client's acknowledgement
        if good:
            await self.reply(235, "2.7.0 welcome")
        else:
            await self.reply(535, "5.7.8 bad credentials")

    async def rcpt(self, cmd):
        index = len(self.rcpts)
        self.rcpts.append(cmd)
        if CFG.get("reply_421") == "RCPT" and CFG.get("rcpt_421_index", 0) == index:
            await self.closing("RCPT")
        address = cmd[cmd.index("<") + 1:cmd.rindex(">")] if "<" in cmd else ""
        local = address.split("@")[0]
        if local == CFG.get("big_reply_for"):
            await self.reply(550, ["5.1.1 line %02d of a long refusal: " % i + "x" * 60 for i in range(60)])
            return
        rule = CFG.get("rcpt_replies", {}).get(local)
        if rule:
            await self.send(rule + "\r\n")
            return
        self.accepted.append(address)
        await self.reply(250, "2.1.5 ok")

    async def data(self):
        body = bytearray()
        while True:
            raw = await self.reader.readline()
            if not raw:
                raise Closed()
            if raw == b".\r\n":
                break
            body += raw[1:] if raw.startswith(b".") else raw
        if CFG.get("reply_421") == "DOT":
            await self.closing("DOT")
        await self.finish(bytes(body), chunked=False)

    async def bdat(self, cmd):
        parts = cmd.split()
        size = int(parts[1])
        last = len(parts) > 2 and parts[2].upper() == "LAST"
        chunk = await self.reader.readexactly(size)
        if self.mail is None or not self.accepted:
            await self.reply(554, "5.5.1 no valid recipients")
            return
        self.chunks.append(chunk)
        if not last:
            await self.reply(250, "2.0.0 %d octets" % size)
            return
        await self.finish(b"".join(self.chunks), chunked=True)

    async def finish(self, body, chunked):
        STATE["messages"] += 1
        self.n_messages += 1
        delay = CFG.get("data_delay", 0)
        if CFG.get("late_first") and STATE["messages"] == 1:
            delay = CFG["late_first"]
        STATE["waiting"] += 1
        STATE["max_waiting"] = max(STATE["max_waiting"], STATE["waiting"])
        # the test reads events only between sends: a line must fit the pipe's buffer
        emit(event="message", session=self.id, helo=self.helo, mail=self.mail, rcpts=self.rcpts,
             data=base64.b64encode(body).decode() if len(body) <= 16384 else None,
             sha256=hashlib.sha256(body).hexdigest(), size=len(body), chunked=chunked, tls=self.tls,
             commands=self.commands, max_waiting=STATE["max_waiting"])
        if delay:
            await asyncio.sleep(delay)
        if CFG.get("hold"):
            if STATE["waiting"] == CFG["hold"]:
                emit(event="all-waiting", waiting=STATE["waiting"])
            await RELEASE.wait()
        STATE["waiting"] -= 1
        if CFG.get("lmtp"):
            for address in self.accepted:
                rule = CFG.get("lmtp_replies", {}).get(address.split("@")[0])
                await self.send((rule or "250 2.0.0 <%s> delivered" % address) + "\r\n")
        elif CFG.get("extra_reply"):
            await self.send("250 2.0.0 queued as %d\r\n%s\r\n" % (STATE["messages"], CFG["extra_reply"]))
            emit(event="extra-sent", session=self.id)
        else:
            await self.reply(250, "2.0.0 queued as %d" % STATE["messages"])
        self.reset()
        if CFG.get("idle_421_after") == self.n_messages:
            await asyncio.sleep(0.05)
            await self.reply(421, "4.4.2 idle too long")
            emit(event="idle-closed", session=self.id)
            raise Closed()


async def serve(reader, writer):
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    session = Session(reader, writer)
    emit(event="connect", session=session.id)
    try:
        await session.run()
    except (Closed, ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
        pass
    finally:
        emit(event="closed", session=session.id)
        try:
            writer.close()
        except Exception:
            pass


async def main():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = await asyncio.start_server(serve, sock=sock, backlog=1024)
    print("listening on 127.0.0.1:%d" % sock.getsockname()[1], flush=True)
    global RELEASE
    RELEASE = asyncio.Event()
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        if line.strip() == "release":
            RELEASE.set()
    server.close()


asyncio.run(main())
