#!/usr/bin/env python3
"""notify_listen.py SOCKET OUT - a stand-in for systemd's notify socket.

Binds a unix datagram socket at SOCKET ("/path", or "@name" for the
abstract namespace), as systemd does for $NOTIFY_SOCKET, and appends every
datagram it receives to OUT, one per line
(newlines in a message become spaces). OUT.ready appears once the socket
is bound. Runs until killed.
"""
import os
import socket
import sys

path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + path[1:] if path.startswith("@") else path)
with open(out + ".tmp", "w") as f:
    f.write("listening\n")
os.rename(out + ".tmp", out + ".ready")
with open(out, "a", buffering=1) as f:
    while True:
        msg = s.recv(4096).decode("utf-8", "replace").replace("\n", " ")
        f.write(msg + "\n")
