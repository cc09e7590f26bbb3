#!/usr/bin/env python3
"""Checks the record stream of one smoke.sh run. Prints PASS/FAIL per check
and a closing 'N passed, M failed' line; exits non-zero on any failure."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mfdecode as d  # noqa: E402
import split_traffic as split  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--stream", required=True)
ap.add_argument("--curl-pids", required=True)
ap.add_argument("--https-pid", type=int, required=True)
ap.add_argument("--nginx-pids", required=True)
ap.add_argument("--redis-server-pid", type=int, required=True)
ap.add_argument("--redis-cli-pid", type=int, required=True)
ap.add_argument("--http-port", type=int, required=True)
ap.add_argument("--https-port", type=int, required=True)
ap.add_argument("--redis-port", type=int, required=True)
ap.add_argument("--curls", type=int, required=True)
ap.add_argument("--split-pid", type=int, required=True)
ap.add_argument("--mqtt-port", type=int, required=True)
ap.add_argument("--dns-port", type=int, required=True)
ap.add_argument("--stray-port", type=int, required=True)
ap.add_argument("--foreign-port", type=int, required=True)
ap.add_argument("--foreign-count", type=int, required=True)
ap.add_argument("--held", required=True, help="prog_id:/map_id: lines of the loader's fdinfo while it ran")
ap.add_argument("--progs-after", required=True)
ap.add_argument("--maps-after", required=True)
ap.add_argument("--loader-rc", type=int, required=True)
a = ap.parse_args()

curl_pids = {int(p) for p in a.curl_pids.split(",") if p}
nginx_pids = {int(p) for p in a.nginx_pids.split(",") if p}
recs = list(d.records(open(a.stream, "rb").read()))
by_type = {}
for t, r in recs:
    by_type.setdefault(t, []).append(r)

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
    print("%s: %s%s" % ("PASS" if ok else "FAIL", name, (" (" + detail + ")") if detail else ""))


def data(t=d.SOCK_DATA, pids=None, comm=None, direction=None, prefix=None, lport=None, rport=None):
    out = []
    for r in by_type.get(t, []):
        if pids is not None and r["pid"] not in pids:
            continue
        if comm is not None and r["comm"] != comm:
            continue
        if direction is not None and r["direction"] != direction:
            continue
        if prefix is not None and not bytes(r["payload"]).startswith(prefix):
            continue
        if lport is not None and r["lport"] != lport:
            continue
        if rport is not None and r["rport"] != rport:
            continue
        out.append(r)
    return out


EGRESS, INGRESS = 0, 1
counts = {d.TYPE_NAMES.get(t, t): len(v) for t, v in sorted(by_type.items())}
print("records:", counts)

check("stream starts with a hello record (version 1, payload 1024)",
      bool(recs) and recs[0][0] == d.HELLO and recs[0][1]["version"] == 1 and recs[0][1]["payload_bytes"] == 1024)
check("loader exited cleanly on SIGINT", a.loader_rc == 0, "rc=%d" % a.loader_rc)
errors = [r["text"] for r in by_type.get(d.LOG, []) if r["level"] >= 2]
print("info: warnings/errors logged by the loader:", errors or "none")

# HTTP/1.1 over plain sockets, both ends.
reqs = data(pids=curl_pids, comm="curl", direction=EGRESS, prefix=b"GET /", rport=a.http_port)
check("'GET /' sent by each curl (comm curl, rport %d)" % a.http_port,
      {r["pid"] for r in reqs} == curl_pids, "%d records from %d/%d curl pids" %
      (len(reqs), len({r["pid"] for r in reqs}), len(curl_pids)))
got = data(pids=nginx_pids, comm="nginx", direction=INGRESS, prefix=b"GET /", lport=a.http_port)
check("'GET /' received by nginx (comm nginx, lport %d)" % a.http_port, len(got) >= a.curls, "%d records" % len(got))
resp = data(pids=nginx_pids, comm="nginx", direction=EGRESS, prefix=b"HTTP/1.1 200", lport=a.http_port)
check("'HTTP/1.1 200' sent by nginx", len(resp) >= a.curls, "%d records" % len(resp))
resp_in = data(pids=curl_pids, comm="curl", direction=INGRESS, prefix=b"HTTP/1.1 200")
check("'HTTP/1.1 200' received by each curl", {r["pid"] for r in resp_in} == curl_pids,
      "%d records" % len(resp_in))
roles = {r["role"] for r in reqs} | {r["role"] for r in resp_in}
check("curl data records carry role client", roles == {1}, "roles %s" % sorted(roles))
addr_ok = all(r["family"] == 2 and r["laddr"] == "127.0.0.1" and r["raddr"] == "127.0.0.1" for r in reqs)
check("data records carry the IPv4 loopback 5-tuple", bool(reqs) and addr_ok)

# Lifecycle.
ev = by_type.get(d.SOCK_EVENT, [])
conns = [r for r in ev if r["kind"] == 1 and r["pid"] in curl_pids and r["rport"] == a.http_port]
check("connect event per curl to port %d" % a.http_port, {r["pid"] for r in conns} == curl_pids,
      "%d events" % len(conns))
accs = [r for r in ev if r["kind"] == 2 and r["pid"] in nginx_pids and r["lport"] == a.http_port]
check("accept events by nginx on port %d" % a.http_port, len(accs) >= a.curls, "%d events" % len(accs))
closes = [r for r in ev if r["kind"] == 3 and (r["lport"] == a.http_port or r["rport"] == a.http_port)]
check("close events for port %d sockets" % a.http_port, len(closes) >= a.curls, "%d events" % len(closes))

# TCP tracepoints.
tcp = by_type.get(d.TCP_EVENT, [])
est = [r for r in tcp if r["kind"] == 4 and r["newstate"] == 1 and a.http_port in (r["sport"], r["dport"])]
check("tcp state events: ESTABLISHED on port %d" % a.http_port, len(est) >= a.curls, "%d events" % len(est))
rtt = [r for r in tcp if r["kind"] == 5]
print("info: %d rtt samples, %d tcp events in all" % (len(rtt), len(tcp)))

# Packets.
pk = [r for r in by_type.get(d.PACKET, []) if r["ifname"] == "lo"]
http_pk = [r for r in pk if (d.l4_ports(r) or (0, 0, 0))[0] == 6 and a.http_port in d.l4_ports(r)[1:]]
check("packet records on lo for tcp port %d" % a.http_port, len(http_pk) >= 5 * a.curls,
      "%d of %d lo packets" % (len(http_pk), len(pk)))
dup = len(http_pk) != len({(r["ts_ns"], bytes(r["data"])) for r in http_pk})
check("no duplicated loopback packets", not dup)

# TLS plaintext through the OpenSSL uprobes.
ssl = by_type.get(d.SSL_DATA, [])
ssl_get = [r for r in ssl if bytes(r["payload"]).startswith(b"GET /")]
who = sorted({"%s(%d)%s" % (r["comm"], r["pid"], "<-" if r["direction"] else "->") for r in ssl_get})
check("HTTPS: plaintext 'GET /' in an ssl data record", bool(ssl_get) and all(r["flags"] & 1 for r in ssl_get),
      "from " + ", ".join(who) if who else "none")
ssl_resp = [r for r in ssl if bytes(r["payload"]).startswith(b"HTTP/1.1 200")]
print("info: ssl 'HTTP/1.1 200' records from", sorted({"%s(%d)" % (r["comm"], r["pid"]) for r in ssl_resp}))
ssl_tuple = [r for r in ssl_get if a.https_port in (r["lport"], r["rport"])]
check("HTTPS: ssl data correlated to its socket (port %d)" % a.https_port, bool(ssl_tuple),
      "%d of %d" % (len(ssl_tuple), len(ssl_get)))
hs = by_type.get(d.SSL_HANDSHAKE, [])
check("HTTPS: handshake record", any(r["ret"] == 1 for r in hs),
      ", ".join(sorted({"%s kind=%d" % (r["comm"], r["kind"]) for r in hs})))
tls_raw = data(prefix=b"\x16\x03", rport=a.https_port) + data(prefix=b"\x16\x03", lport=a.https_port)
check("HTTPS: TLS handshake bytes in socket data records", bool(tls_raw), "%d records" % len(tls_raw))

# Redis RESP.
ping = data(pids={a.redis_cli_pid}, direction=EGRESS, prefix=b"*1\r\n$4\r\nPING", rport=a.redis_port)
check("redis-cli PING captured", bool(ping), "%d records" % len(ping))
pong = data(pids={a.redis_server_pid}, direction=EGRESS, prefix=b"+PONG", lport=a.redis_port)
check("redis-server +PONG captured", bool(pong), "%d records" % len(pong))

# Pre-filter: messages split across calls (split_traffic.py), and traffic we do not parse.
HELD = 32


def joined(recs):
    return b"".join(bytes(r["payload"]) for r in sorted(recs, key=lambda r: r["ts_ns"]))


def shape(recs):
    return " ".join("%d%s" % (r["bytes"], "h" if r["flags"] & HELD else "") for r in sorted(recs, key=lambda r: r["ts_ns"]))


sp = {a.split_pid}
mq_in = data(pids=sp, direction=INGRESS, lport=a.mqtt_port)
check("MQTT CONNECT read 1 + 1 + 12 bytes: two held records, then the rest, all of it (mosquitto)",
      joined(mq_in) == split.MQTT_CONNECT and shape(mq_in) == "1h 1h 12" and {r["proto"] for r in mq_in} == {7},
      "records %s" % shape(mq_in))
mq_ack = data(pids=sp, direction=EGRESS, lport=a.mqtt_port, prefix=b"\x20\x02\x00\x00")
check("MQTT CONNACK passes once the socket is classified", len(mq_ack) == 1 and mq_ack[0]["flags"] & 4,
      "%d records" % len(mq_ack))
dns_msg = len(split.DNS_QUERY).to_bytes(2, "big") + split.DNS_QUERY
dns_out = data(pids=sp, direction=EGRESS, rport=a.dns_port)
check("DNS over TCP off port 53 sent by writev([length], [query]): one whole record (dig)",
      len(dns_out) == 1 and bytes(dns_out[0]["payload"]) == dns_msg and dns_out[0]["source"] == 4 and
      dns_out[0]["proto"] == 8, "records %s" % shape(dns_out))
dns_in = data(pids=sp, direction=INGRESS, lport=a.dns_port)
check("DNS length read byte by byte after a MSG_PEEK: held, then the query, no byte twice (dnsmasq)",
      joined(dns_in) == dns_msg and shape(dns_in) == "1h 1h %d" % len(split.DNS_QUERY), "records %s" % shape(dns_in))
for side, st in (("client", data(pids=sp, direction=EGRESS, rport=a.stray_port)),
                 ("server", data(pids=sp, direction=INGRESS, lport=a.stray_port))):
    check("a stray byte before an HTTP request does not hide it (%s: held byte, then the request)" % side,
          joined(st) == b"\n" + split.HTTP_GET and shape(st) == "1h %d" % len(split.HTTP_GET),
          "records %s" % shape(st))
foreign = data(lport=a.foreign_port) + data(rport=a.foreign_port)
check("no record for %d round trips of a protocol we do not parse (8-byte writes, 3-byte replies)" %
      a.foreign_count, not foreign, "%d records" % len(foreign))

# Accounting.
stats = by_type.get(d.STATS, [])
last = stats[-1] if stats else {}
drops = {k: last.get(k) for k in ("data_rb_drop", "lc_rb_drop", "tcp_rb_drop", "ssl_rb_drop", "int_rb_drop",
                                   "pkt_dropped")}
check("stats records present, active paths = all five", bool(stats) and last.get("active") == 0x1f,
      "%d records, active=0x%x" % (len(stats), last.get("active", 0)))
check("stats show zero drops", bool(stats) and not any(drops.values()), str(drops))
if last:
    print("info: emitted data=%d filtered=%d ssl=%d lifecycle=%d tcp=%d packets=%d, read errors=%d" % (
        last["data_emitted"], last["data_filtered"], last["ssl_emitted"], last["lc_emitted"], last["tcp_emitted"],
        last["pkt_records"], last["data_read_err"]))

# Own pid excluded: the loader never shows up as a data source.
hello = recs[0][1] if recs and recs[0][0] == d.HELLO else {}
own = [r for r in by_type.get(d.SOCK_DATA, []) if r["pid"] in hello.get("excluded", [])]
check("no data records from excluded pids", not own, "excluded %s" % hello.get("excluded"))

# Only what this loader held: other loaders may run on the host meanwhile.
held = {"prog_id:": set(), "map_id:": set()}
for line in open(a.held):
    f = line.split()
    if len(f) == 2 and f[0] in held and f[1].isdigit():
        held[f[0]].add(int(f[1]))
check("the loader held mf_ programs and maps while it ran", bool(held["prog_id:"]) and bool(held["map_id:"]),
      "%d programs, %d maps" % (len(held["prog_id:"]), len(held["map_id:"])))


def left(path, ids):
    return [l for l in open(path) if " name mf_" in l and l.split(":", 1)[0].strip().isdigit() and
            int(l.split(":", 1)[0]) in ids]


progs = left(a.progs_after, held["prog_id:"])
maps = left(a.maps_after, held["map_id:"])
check("no mf_ programs loaded after exit", not progs, "".join(progs).strip())
check("no mf_ maps left after exit", not maps, "".join(maps).strip())

print("%s: %d passed, %d failed" % ("PASS" if not failed else "FAIL", passed, failed))
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
