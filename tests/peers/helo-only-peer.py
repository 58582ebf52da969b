"""An old SMTP server for test-client: refuses EHLO (500), speaks plain RFC 821
after HELO (no PIPELINING, no extensions), refuses one recipient, and prints each
message's sha256 as a JSON line.  Prints "listening on 127.0.0.1:PORT"; one
connection at a time; exits when its stdin closes.  Loopback only."""
import hashlib
import json
import socket
import sys
import threading


def serve(conn):
    f = conn.makefile("rb")
    conn.sendall(b"220 old.test SMTP\r\n")
    rcpts = []
    while True:
        line = f.readline()
        if not line:
            return
        cmd = line.strip().upper()
        if cmd.startswith(b"EHLO"):
            conn.sendall(b"500 5.5.1 What is EHLO?\r\n")
        elif cmd.startswith(b"HELO"):
            conn.sendall(b"250 old.test\r\n")
        elif cmd.startswith(b"MAIL FROM:"):
            rcpts = []
            conn.sendall(b"250 OK\r\n")
        elif cmd.startswith(b"RCPT TO:"):
            if b"NOBODY" in cmd:
                conn.sendall(b"550 No such user\r\n")
            else:
                rcpts.append(line.strip()[8:].decode())
                conn.sendall(b"250 OK\r\n")
        elif cmd == b"DATA":
            conn.sendall(b"354 go ahead\r\n")
            data = b""
            while True:
                l = f.readline()
                if l == b".\r\n" or not l:
                    break
                data += l[1:] if l.startswith(b".") else l
            print(json.dumps({"rcpts": rcpts, "sha256": hashlib.sha256(data).hexdigest()}), flush=True)
            conn.sendall(b"250 accepted\r\n")
        elif cmd == b"RSET":
            conn.sendall(b"250 OK\r\n")
        elif cmd == b"QUIT":
            conn.sendall(b"221 bye\r\n")
            return
        else:
            conn.sendall(b"500 unknown\r\n")


def main():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    print("listening on 127.0.0.1:%d" % s.getsockname()[1], flush=True)

    def loop():
        while True:
            conn, _ = s.accept()
            serve(conn)
            conn.close()

    threading.Thread(target=loop, daemon=True).start()
    sys.stdin.read()


main()
