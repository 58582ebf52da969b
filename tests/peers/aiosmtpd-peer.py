"""A Python aiosmtpd server for test-client: STARTTLS with the given certificate,
AUTH (user/secret) required over TLS.  Prints "listening on 127.0.0.1:PORT", then
one JSON line per message; exits when its stdin closes.  Loopback only.
Modes (argv[3]): plain-and-login (default), login-only, lmtp (aiosmtpd's LMTP
server: one reply per recipient after the data, "full@..." gets 452)."""
import asyncio
import hashlib
import json
import socket
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import AuthResult, LoginPassword


class LMTPController(Controller):
    def factory(self):
        return LMTP(self.handler, **self.SMTP_kwargs)


class Handler:
    def __init__(self, lmtp):
        self.lmtp = lmtp

    async def handle_DATA(self, server, session, envelope):
        print(json.dumps({
            "sender": envelope.mail_from,
            "recipients": envelope.rcpt_tos,
            "sha256": hashlib.sha256(envelope.original_content).hexdigest(),
            "tls": session.ssl is not None,
            "user": session.auth_data.login.decode() if session.authenticated else None,
            "smtputf8": envelope.smtp_utf8,
            "mail_options": envelope.mail_options,
        }, ensure_ascii=False), flush=True)
        if self.lmtp:
            return "\r\n".join("452 4.2.2 mailbox full" if r.startswith("full@")
                                else "250 2.0.0 <%s> delivered" % r for r in envelope.rcpt_tos)
        return "250 2.0.0 queued by aiosmtpd"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"user" and auth_data.password == b"secret"
    return AuthResult(success=ok, auth_data=auth_data)


def main():
    cert, key = sys.argv[1], sys.argv[2]
    # "login-only": offer AUTH LOGIN alone, so the client must pick it
    mode = sys.argv[3] if len(sys.argv) > 3 else "plain-and-login"
    exclude = ["PLAIN"] if mode == "login-only" else []
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    controller_class = LMTPController if mode == "lmtp" else Controller
    controller = controller_class(Handler(mode == "lmtp"), hostname="127.0.0.1", port=port, tls_context=ctx,
                                  require_starttls=False, authenticator=authenticator,
                                  auth_require_tls=True, decode_data=False,
                                  auth_exclude_mechanism=exclude)
    controller.start()
    print("listening on 127.0.0.1:%d" % port, flush=True)
    sys.stdin.read()
    controller.stop()


main()
