"""gsmtp from Python through GObject Introspection: a server with Python
handlers for RCPT (one recipient refused with a custom code) and DATA, and the
gsmtp client sending to it, all in one GLib main loop."""
import gi

gi.require_version("GSmtp", "1.0")
gi.require_version("GMime", "3.0")
from gi.repository import GLib, GSmtp  # noqa: E402

server = GSmtp.Server.new("mx.example.org")
server.add_domain("example.org")
arrived = []


def on_rcpt(server, stage):
    if stage.get_local_part() == "nobody":
        return GSmtp.Reply.new(550, "5.1.1", "nobody lives here")
    return stage.accept_default()


def on_data(server, stage):
    env = stage.get_envelope()
    arrived.append({
        "sender": env.get_sender(),
        "recipients": list(env.get_recipients()),
        "data": bytes(env.get_data().get_data()),
        "subject": env.get_message().get_subject(),
        "received": env.get_received_header(),
    })
    return GSmtp.Reply.new_code(250)


server.set_handler(GSmtp.StageKind.RCPT, on_rcpt)
server.set_handler(GSmtp.StageKind.DATA, on_data)
ret = server.listen_inet("127.0.0.1", 0, GSmtp.ListenFlags.DEFAULT)
port = ret[1] if isinstance(ret, tuple) else ret
assert port > 0, ret

loop = GLib.MainLoop()
outcome = {}
message = b"Subject: from Python\r\n\r\nhello over GI\r\n"


def sent(client, res):
    try:
        outcome["result"] = client.send_finish(res)
    except GLib.Error as e:
        outcome["error"] = e
    loop.quit()


def give_up():
    outcome["error"] = "timeout"
    loop.quit()
    return False


client = GSmtp.Client.new("127.0.0.1", port)
client.send_bytes_async("a@x.test", ["b@example.org", "nobody@example.org"],
                        GLib.Bytes.new(message), None, sent)
GLib.timeout_add_seconds(30, give_up)
loop.run()

assert "error" not in outcome, outcome
result = outcome["result"]
assert list(result.get_accepted()) == ["b@example.org"], list(result.get_accepted())
assert list(result.get_refused()) == ["nobody@example.org"]
refusal = result.get_recipient_reply("nobody@example.org")
assert refusal.get_code() == 550 and refusal.get_enhanced_code() == "5.1.1", refusal.to_string()
assert refusal.get_text() == "nobody lives here"
assert result.get_reply().get_code() == 250
assert len(arrived) == 1, arrived
m = arrived[0]
assert m["sender"] == "a@x.test" and m["recipients"] == ["b@example.org"], m
assert m["data"] == message, m["data"]
assert m["subject"] == "from Python", m["subject"]
assert "by mx.example.org (gsmtp)" in m["received"]
print("gi: ok")
