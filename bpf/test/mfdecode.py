#!/usr/bin/env python3
"""Reference decoder for the metaflow-loader record stream (see bpf/README.md).

Usage: mfdecode.py STREAM [--summary]   dumps one line per record.
Imported by smoke_check.py; stdlib only.
"""
import socket
import struct
import sys

HELLO, LOG, STATS, SOCK_DATA, SOCK_EVENT, TCP_EVENT, SSL_DATA, SSL_HANDSHAKE, PACKET = range(1, 10)
TYPE_NAMES = {HELLO: "hello", LOG: "log", STATS: "stats", SOCK_DATA: "sock_data", SOCK_EVENT: "sock_event",
              TCP_EVENT: "tcp_event", SSL_DATA: "ssl_data", SSL_HANDSHAKE: "ssl_handshake", PACKET: "packet"}

KSTATS = ["data_emitted", "data_filtered", "data_rb_drop", "data_read_err", "lc_emitted", "lc_rb_drop",
          "tcp_emitted", "tcp_rb_drop", "tcp_rtt_throttled", "ssl_emitted", "ssl_filtered", "ssl_rb_drop",
          "int_rb_drop"]

DATA = struct.Struct("<QQQQQQIIiIBBBBBBBBHHI16s16s16s")            # 128
SOCK_EV = struct.Struct("<QQQQIIiiBBBBHH16s16s16sB7x")              # 112
TCP_EV = struct.Struct("<QQIIBxHHxx16s16siiIIII16s")                # 104
HS = struct.Struct("<QQQQQIIiiBBBxHH16s16s16s64s")                  # 176
PKT = struct.Struct("<QIIIHHHBx4x16s")                              # 48
HELLO_S = struct.Struct("<IIQQIIIII8I4x64s")                        # 144
LOG_S = struct.Struct("<II")
STATS_S = struct.Struct("<QQII13Q7Q")                               # 184

for s, n in ((DATA, 128), (SOCK_EV, 112), (TCP_EV, 104), (HS, 176), (PKT, 48), (HELLO_S, 144), (STATS_S, 184)):
    assert s.size == n, (s.format, s.size, n)


def cstr(b):
    return b.split(b"\0", 1)[0].decode("utf-8", "replace")


def addr(family, raw):
    if family == 2:
        return socket.inet_ntop(socket.AF_INET, raw[:4])
    if family == 10:
        return socket.inet_ntop(socket.AF_INET6, raw)
    return "?"


def decode_body(rtype, body):
    if rtype in (SOCK_DATA, SSL_DATA):
        f = DATA.unpack_from(body)
        keys = ["ts_ns", "sock_id", "inode", "cgroup_id", "ssl_ptr", "bytes", "pid", "tid", "fd", "payload_len",
                "direction", "source", "family", "ip_proto", "role", "proto", "flags", "msg_index", "lport",
                "rport", "_pad0", "laddr", "raddr", "comm"]
        r = dict(zip(keys, f))
        r["laddr"] = addr(r["family"], r["laddr"])
        r["raddr"] = addr(r["family"], r["raddr"])
        r["comm"] = cstr(r["comm"])
        r["payload"] = body[DATA.size:DATA.size + r["payload_len"]]
        return r
    if rtype == SOCK_EVENT:
        keys = ["ts_ns", "sock_id", "inode", "cgroup_id", "pid", "tid", "fd", "ret", "kind", "family", "ip_proto",
                "role", "lport", "rport", "laddr", "raddr", "comm", "proto"]
        r = dict(zip(keys, SOCK_EV.unpack_from(body)))
        r["laddr"] = addr(r["family"], r["laddr"])
        r["raddr"] = addr(r["family"], r["raddr"])
        r["comm"] = cstr(r["comm"])
        return r
    if rtype == TCP_EVENT:
        keys = ["ts_ns", "sock_id", "pid", "kind", "family", "sport", "dport", "saddr", "daddr", "oldstate",
                "newstate", "srtt_us", "snd_cwnd", "value", "segs", "comm"]
        # Bodies of 88 bytes (earlier versions) end before segs and comm.
        r = dict(zip(keys, TCP_EV.unpack_from(body.ljust(TCP_EV.size, b"\0"))))
        r["saddr"] = addr(r["family"], r["saddr"])
        r["daddr"] = addr(r["family"], r["daddr"])
        r["comm"] = cstr(r["comm"])
        return r
    if rtype == SSL_HANDSHAKE:
        keys = ["ts_ns", "duration_ns", "ssl_ptr", "sock_id", "cgroup_id", "pid", "tid", "fd", "ret", "kind",
                "family", "role", "lport", "rport", "laddr", "raddr", "comm", "sni"]
        r = dict(zip(keys, HS.unpack_from(body)))
        r["laddr"] = addr(r["family"], r["laddr"])
        r["raddr"] = addr(r["family"], r["raddr"])
        r["comm"] = cstr(r["comm"])
        r["sni"] = cstr(r["sni"])
        return r
    if rtype == PACKET:
        keys = ["ts_ns", "ifindex", "caplen", "origlen", "link_type", "hatype", "ethertype", "direction", "ifname"]
        r = dict(zip(keys, PKT.unpack_from(body)))
        r["ifname"] = cstr(r["ifname"])
        r["data"] = body[PKT.size:PKT.size + r["caplen"]]
        return r
    if rtype == HELLO:
        f = HELLO_S.unpack_from(body)
        r = dict(zip(["version", "payload_bytes", "boot_offset_ns", "start_wall_ns", "loader_pid", "snaplen",
                      "flags", "max_payload", "n_excluded"], f[:9]))
        r["excluded"] = [p for p in f[9:17] if p]
        r["kernel_release"] = cstr(f[17])
        return r
    if rtype == LOG:
        level, n = LOG_S.unpack_from(body)
        return {"level": level, "text": body[8:8 + n].decode("utf-8", "replace")}
    if rtype == STATS:
        f = STATS_S.unpack_from(body)
        r = dict(zip(["wall_ns", "boot_offset_ns", "active", "ssl_procs"], f[:4]))
        r.update(zip(KSTATS, f[4:17]))
        r.update(zip(["pkt_received", "pkt_dropped", "pkt_freeze", "pkt_records", "records_out", "bytes_out",
                      "ssl_attach_fail"], f[17:]))
        return r
    return {"raw": body}


def records(data):
    """Yields (type, decoded dict). Stops at a truncated trailing record."""
    off = 0
    while off + 8 <= len(data):
        rtype, length = struct.unpack_from("<II", data, off)
        if off + 8 + length > len(data):
            break
        yield rtype, decode_body(rtype, data[off + 8:off + 8 + length])
        off += 8 + length


def l4_ports(pkt):
    """(proto, sport, dport) of an Ethernet/raw IP packet record, or None."""
    d = pkt["data"]
    if pkt["link_type"] == 1:
        if len(d) < 14:
            return None
        etype = struct.unpack_from(">H", d, 12)[0]
        d = d[14:]
    elif pkt["link_type"] == 101:
        etype = 0x0800 if d and d[0] >> 4 == 4 else 0x86DD
    else:
        return None
    if etype == 0x0800 and len(d) >= 20:
        ihl = (d[0] & 15) * 4
        proto = d[9]
        l4 = d[ihl:]
    elif etype == 0x86DD and len(d) >= 40:
        proto = d[6]
        l4 = d[40:]
    else:
        return None
    if proto in (6, 17) and len(l4) >= 4:
        return (proto,) + struct.unpack_from(">HH", l4, 0)
    return None


def main():
    data = open(sys.argv[1], "rb").read()
    counts = {}
    for rtype, r in records(data):
        counts[rtype] = counts.get(rtype, 0) + 1
        if "--summary" in sys.argv:
            continue
        name = TYPE_NAMES.get(rtype, str(rtype))
        if "payload" in r:
            r = dict(r, payload=bytes(r["payload"][:64]))
        if "data" in r:
            r = dict(r, data=len(r["data"]), l4=l4_ports(r))
        print(name, r)
    print("counts:", {TYPE_NAMES.get(k, k): v for k, v in sorted(counts.items())})


if __name__ == "__main__":
    main()
