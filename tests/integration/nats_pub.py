#!/usr/bin/env python3
"""nats_pub.py PORT SUBJECT: publish stdin's bytes to SUBJECT on the nats-server
at 127.0.0.1:PORT with the NATS client protocol itself, and wait for
JetStream's acknowledgement (the subject must belong to a stream or a KV
bucket, "$KV.<bucket>.<key>"). Exits non-zero, naming the problem, on -ERR
or a JetStream error.

Tests use it to plant records exactly as a node writes them (an idempotency
reservation, a chunk and a job header of a request cut off before its commit
record) without a NATS client library."""
import socket
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: nats_pub.py PORT SUBJECT < value")
    port, subject = int(sys.argv[1]), sys.argv[2]
    val = sys.stdin.buffer.read()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    f.readline()  # INFO
    s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB _INBOX.plant 1\r\n')
    s.sendall(("PUB %s _INBOX.plant %d\r\n" % (subject, len(val))).encode() + val + b"\r\n")
    while True:
        line = f.readline()
        if not line or line.startswith(b"-ERR"):
            sys.exit("nats_pub %s: %r" % (subject, line))
        if line.startswith(b"PING"):
            s.sendall(b"PONG\r\n")
        if line.startswith(b"MSG"):
            ack = f.read(int(line.split()[-1]) + 2)
            if b'"error"' in ack:
                sys.exit("nats_pub %s: %r" % (subject, ack))
            return


main()
