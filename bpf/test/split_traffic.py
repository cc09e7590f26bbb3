#!/usr/bin/env python3
"""Traffic for the pre-filter checks of smoke.sh, on 127.0.0.1, from this process (not excluded):

  --mqtt PORT     a client writes an MQTT CONNECT in one write; the server reads it the way
                  mosquitto does: 1 byte, 1 byte, then the rest; then answers CONNACK 20 02 00 00.
  --dns PORT      DNS over TCP off port 53: the client writes writev([length], [message]) as dig
                  does; the server peeks 1 byte (MSG_PEEK), then reads the length byte by byte as
                  dnsmasq does, then the message, and answers length + message in one write.
  --stray PORT    a client writes one stray byte (\\n), then an HTTP request; the server reads 1 byte,
                  then the rest: the request alone is recognised, the stray byte still sent first.
  --foreign PORT  N round trips of a protocol we do not parse: 8-byte writes, 3-byte replies.
  --count N       round trips of --foreign (default 500).

Prints one line per exchange; the checker compares the record stream with these bytes.
"""
import argparse
import os
import socket
import struct
import threading
import time

MQTT_CONNECT = bytes.fromhex("100c00044d5154540402003c0000")
# Query for www.metaflow.test A, id 0x4d46, RD.
DNS_QUERY = bytes.fromhex("4d46010000010000000000000377777708") + b"metaflow\x04test\x00" + b"\x00\x01\x00\x01"
DNS_ANSWER = bytes.fromhex("4d46858000010001000000000377777708") + b"metaflow\x04test\x00" + \
    b"\x00\x01\x00\x01" + bytes.fromhex("c00c000100010000003c00040a010203")


def server(port, handle):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(1)

    def run():
        c, _ = s.accept()
        with c:
            handle(c)
        s.close()

    t = threading.Thread(target=run)
    t.start()
    return t


def read_exact(c, n):
    out = b""
    while len(out) < n:
        b = c.recv(n - len(out))
        if not b:
            raise EOFError("peer closed")
        out += b
    return out


def mqtt(port):
    def handle(c):
        read_exact(c, 1)
        n = read_exact(c, 1)[0]
        read_exact(c, n)
        c.sendall(b"\x20\x02\x00\x00")

    t = server(port, handle)
    with socket.create_connection(("127.0.0.1", port)) as c:
        c.sendall(MQTT_CONNECT)
        assert read_exact(c, 4) == b"\x20\x02\x00\x00"
    t.join()
    print("mqtt: CONNECT %s, CONNACK 20020000" % MQTT_CONNECT.hex())


def dns(port):
    def handle(c):
        c.recv(1, socket.MSG_PEEK)
        hi = read_exact(c, 1)[0]
        lo = read_exact(c, 1)[0]
        read_exact(c, hi << 8 | lo)
        c.sendall(struct.pack(">H", len(DNS_ANSWER)) + DNS_ANSWER)

    t = server(port, handle)
    with socket.create_connection(("127.0.0.1", port)) as c:
        os.writev(c.fileno(), [struct.pack(">H", len(DNS_QUERY)), DNS_QUERY])
        n = struct.unpack(">H", read_exact(c, 2))[0]
        assert read_exact(c, n) == DNS_ANSWER
    t.join()
    print("dns: query %s" % (struct.pack(">H", len(DNS_QUERY)) + DNS_QUERY).hex())


HTTP_GET = b"GET /split HTTP/1.1\r\nHost: localhost\r\n\r\n"


def stray(port):
    def handle(c):
        read_exact(c, 1)
        read_exact(c, len(HTTP_GET))
        c.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")

    t = server(port, handle)
    with socket.create_connection(("127.0.0.1", port)) as c:
        c.sendall(b"\n")
        time.sleep(0.05)
        c.sendall(HTTP_GET)
        c.recv(100)
    t.join()
    print("stray: \\n then %r" % HTTP_GET)


def foreign(port, count):
    def handle(c):
        for _ in range(count):
            read_exact(c, 8)
            c.sendall(b"\x07\x07\x01")

    t = server(port, handle)
    with socket.create_connection(("127.0.0.1", port)) as c:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(count):
            c.sendall(bytes([1, 2, 3, 4, 5, 6, 7, i & 0xFF]))
            read_exact(c, 3)
    t.join()
    print("foreign: %d round trips" % count)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mqtt", type=int)
    ap.add_argument("--dns", type=int)
    ap.add_argument("--stray", type=int)
    ap.add_argument("--foreign", type=int)
    ap.add_argument("--count", type=int, default=500)
    a = ap.parse_args()
    if a.mqtt:
        mqtt(a.mqtt)
    if a.dns:
        dns(a.dns)
    if a.stray:
        stray(a.stray)
    if a.foreign:
        foreign(a.foreign, a.count)


if __name__ == "__main__":
    main()
