/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * MetaFlow live-capture wire format, shared by the BPF programs, the loader
 * and (through bpf/README.md) the TypeScript decoder.
 *
 * The loader writes a stream of framed records to stdout:
 *
 *     struct mf_rec_hdr { u32 type; u32 len; }   8 bytes, little-endian
 *     body                                        len bytes
 *
 * Kernel events are built in the ring buffer already framed, so the loader
 * copies them to stdout untouched; that is why every kernel record struct
 * below starts right after a struct mf_rec_hdr and why all of them keep
 * their 64-bit fields 8-byte aligned relative to the body start.
 *
 * Every struct is explicitly padded: no compiler-inserted holes, so the
 * offsets in README.md are the offsets on the wire.
 */
#ifndef METAFLOW_H
#define METAFLOW_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define MF_WIRE_VERSION 1

/* Payload capture limits: the default keeps HTTP headers, the cap keeps the
 * BPF scratch buffer within one map value. MF_MAX_PAYLOAD must stay a power
 * of two: the BPF side masks offsets with MF_MAX_PAYLOAD - 1. */
#define MF_DEFAULT_PAYLOAD 1024
#define MF_MAX_PAYLOAD 16384

/* TLS records other than handshakes carry ciphertext; keeping only the record
 * headers still gives userspace the framing without wasting the ring. */
#define MF_TLS_CIPHERTEXT_CAP 64

#define MF_COMM_LEN 16
#define MF_SNI_LEN 64
#define MF_IFNAME_LEN 16

enum mf_rec_type {
	MF_REC_HELLO = 1,
	MF_REC_LOG = 2,
	MF_REC_STATS = 3,
	MF_REC_SOCK_DATA = 4,     /* body: struct mf_data + payload */
	MF_REC_SOCK_EVENT = 5,    /* body: struct mf_sock_event */
	MF_REC_TCP_EVENT = 6,     /* body: struct mf_tcp_event */
	MF_REC_SSL_DATA = 7,      /* body: struct mf_data + payload */
	MF_REC_SSL_HANDSHAKE = 8, /* body: struct mf_ssl_handshake */
	MF_REC_PACKET = 9,        /* body: struct mf_packet + bytes */

	/* Kernel → loader only, never written to stdout. */
	MF_INT_SSL_CANDIDATE = 0x8001, /* body: struct mf_ssl_candidate */
};

struct mf_rec_hdr {
	__u32 type;
	__u32 len; /* body length, header excluded */
};

enum mf_direction {
	MF_DIR_EGRESS = 0,
	MF_DIR_INGRESS = 1,
};

/* Which call produced a data record. */
enum mf_source {
	MF_SRC_READ = 1,
	MF_SRC_WRITE = 2,
	MF_SRC_READV = 3,
	MF_SRC_WRITEV = 4,
	MF_SRC_RECVFROM = 5,
	MF_SRC_SENDTO = 6,
	MF_SRC_RECVMSG = 7,
	MF_SRC_SENDMSG = 8,
	MF_SRC_RECVMMSG = 9,
	MF_SRC_SENDMMSG = 10,
	MF_SRC_SSL_READ = 20,
	MF_SRC_SSL_WRITE = 21,
	MF_SRC_SSL_READ_EX = 22,
	MF_SRC_SSL_WRITE_EX = 23,
};

enum mf_role {
	MF_ROLE_UNKNOWN = 0,
	MF_ROLE_CLIENT = 1, /* the process connect()ed: c-p */
	MF_ROLE_SERVER = 2, /* the process accept()ed: s-p */
};

/* What the in-kernel pre-filter recognised. Userspace may store any non-zero
 * value (MF_PROTO_USER and up) in mf_socks to force capture of a socket. */
enum mf_proto {
	MF_PROTO_NONE = 0,
	MF_PROTO_HTTP1 = 1,
	MF_PROTO_HTTP2 = 2,
	MF_PROTO_TLS = 3,
	MF_PROTO_MYSQL = 4,
	MF_PROTO_REDIS = 5,
	MF_PROTO_KAFKA = 6,
	MF_PROTO_MQTT = 7,
	MF_PROTO_DNS = 8,
	MF_PROTO_DUBBO = 9,
	MF_PROTO_USER = 64,
};

enum mf_data_flags {
	MF_DF_TLS = 1 << 0,        /* plaintext taken from an SSL_* call */
	MF_DF_TRUNCATED = 1 << 1,  /* bytes > payload_len */
	MF_DF_SOCK_KNOWN = 1 << 2, /* passed because the socket was already classified */
	MF_DF_TLS_CAPPED = 1 << 3, /* TLS ciphertext cut to MF_TLS_CIPHERTEXT_CAP */
	MF_DF_ADDR_FROM_MSG = 1 << 4, /* remote address taken from the call's sockaddr (unconnected UDP) */
	MF_DF_HELD = 1 << 5,       /* a small call held back until a later call classified its socket: sent
				    * just before that call's record, with its own ts_ns (see bpf/README.md) */
};

/* Body of MF_REC_SOCK_DATA and MF_REC_SSL_DATA; payload_len bytes follow. */
struct mf_data {
	__u64 ts_ns;      /*   0 CLOCK_MONOTONIC ns; + hello.boot_offset_ns = wall clock */
	__u64 sock_id;    /*   8 kernel struct sock address, 0 if unknown; same value as mf_tcp_event.sock_id */
	__u64 inode;      /*  16 socket inode number, 0 if unknown */
	__u64 cgroup_id;  /*  24 cgroup v2 id of the task */
	__u64 ssl_ptr;    /*  32 SSL* for MF_REC_SSL_DATA, 0 otherwise */
	__u64 bytes;      /*  40 bytes moved by the call (return value) */
	__u32 pid;        /*  48 tgid */
	__u32 tid;        /*  52 */
	__s32 fd;         /*  56 -1 if unknown */
	__u32 payload_len;/*  60 captured bytes after this struct */
	__u8 direction;   /*  64 enum mf_direction */
	__u8 source;      /*  65 enum mf_source */
	__u8 family;      /*  66 AF_INET=2, AF_INET6=10, 0 unknown */
	__u8 ip_proto;    /*  67 6=TCP, 17=UDP, 0 unknown */
	__u8 role;        /*  68 enum mf_role */
	__u8 proto;       /*  69 enum mf_proto */
	__u8 flags;       /*  70 enum mf_data_flags */
	__u8 msg_index;   /*  71 message index inside recvmmsg/sendmmsg, else 0 */
	__u16 lport;      /*  72 local port, host order */
	__u16 rport;      /*  74 remote port, host order */
	__u32 _pad0;      /*  76 */
	__u8 laddr[16];   /*  80 local address: IPv4 in the first 4 bytes, or IPv6 */
	__u8 raddr[16];   /*  96 remote address */
	char comm[MF_COMM_LEN]; /* 112 thread name, NUL padded */
};                        /* 128 */

enum mf_sock_event_kind {
	MF_SE_CONNECT = 1,
	MF_SE_ACCEPT = 2,
	MF_SE_CLOSE = 3,
};

/* Body of MF_REC_SOCK_EVENT. */
struct mf_sock_event {
	__u64 ts_ns;      /*   0 CLOCK_MONOTONIC ns */
	__u64 sock_id;    /*   8 */
	__u64 inode;      /*  16 */
	__u64 cgroup_id;  /*  24 */
	__u32 pid;        /*  32 */
	__u32 tid;        /*  36 */
	__s32 fd;         /*  40 connect/close: the fd; accept: the new fd */
	__s32 ret;        /*  44 syscall return: 0 or -EINPROGRESS(-115) for connect */
	__u8 kind;        /*  48 enum mf_sock_event_kind */
	__u8 family;      /*  49 */
	__u8 ip_proto;    /*  50 */
	__u8 role;        /*  51 enum mf_role */
	__u16 lport;      /*  52 */
	__u16 rport;      /*  54 */
	__u8 laddr[16];   /*  56 */
	__u8 raddr[16];   /*  72 */
	char comm[MF_COMM_LEN]; /* 88 */
	__u8 proto;       /* 104 classification known at close, enum mf_proto */
	__u8 _pad[7];     /* 105 */
};                        /* 112 */

enum mf_tcp_event_kind {
	MF_TE_RETRANSMIT = 1,
	MF_TE_RECV_RESET = 2,
	MF_TE_SEND_RESET = 3,
	MF_TE_STATE = 4,
	MF_TE_RTT = 5,
};

/* Body of MF_REC_TCP_EVENT. saddr/sport are the local side. Most TCP tracepoints fire in
 * softirq or timer context, where pid/comm are whatever task was interrupted: only a state
 * change into SYN_SENT (connect) is sure to run in the owner's context. Readers of the 88-byte
 * body of earlier versions find no comm. */
struct mf_tcp_event {
	__u64 ts_ns;      /*  0 CLOCK_MONOTONIC ns */
	__u64 sock_id;    /*  8 struct sock address (0 for a reset sent without socket) */
	__u32 pid;        /* 16 tgid running when the event fired; often unrelated (softirq) */
	__u32 kind;       /* 20 enum mf_tcp_event_kind */
	__u8 family;      /* 24 */
	__u8 _pad0;       /* 25 */
	__u16 sport;      /* 26 local port, host order (0 at SYN_SENT: not bound yet) */
	__u16 dport;      /* 28 remote port, host order */
	__u16 _pad1;      /* 30 */
	__u8 saddr[16];   /* 32 */
	__u8 daddr[16];   /* 48 */
	__s32 oldstate;   /* 64 TCP state before (STATE), state (RETRANSMIT, SEND_RESET, RECV_RESET), else -1 */
	__s32 newstate;   /* 68 TCP state after (STATE), else -1 */
	__u32 srtt_us;    /* 72 smoothed RTT in us (RTT; STATE: the socket's at the change, 0 before a sample) */
	__u32 snd_cwnd;   /* 76 congestion window in segments (RTT), else 0 */
	__u32 value;      /* 80 SEND_RESET: enum sk_rst_reason; RETRANSMIT: err (0 = sent);
			   *    STATE: the socket's sk_err (ECONNREFUSED, ECONNRESET, ETIMEDOUT...); else 0 */
	__u32 segs;       /* 84 RETRANSMIT: segments in the retransmitted skb (tcp_skb_pcount), else 0 */
	char comm[MF_COMM_LEN]; /* 88 process name of pid (same caveat) */
};                        /* 104 */

enum mf_ssl_hs_kind {
	MF_HS_CONNECT = 1,
	MF_HS_ACCEPT = 2,
	MF_HS_DO_HANDSHAKE = 3,
};

/* Body of MF_REC_SSL_HANDSHAKE: one per finished handshake (ret 1 = done, 0 = failed). */
struct mf_ssl_handshake {
	__u64 ts_ns;      /*   0 CLOCK_MONOTONIC ns at return */
	__u64 duration_ns;/*   8 since the first handshake call on this SSL* */
	__u64 ssl_ptr;    /*  16 */
	__u64 sock_id;    /*  24 0 if not correlated */
	__u64 cgroup_id;  /*  32 */
	__u32 pid;        /*  40 */
	__u32 tid;        /*  44 */
	__s32 fd;         /*  48 -1 if not correlated */
	__s32 ret;        /*  52 OpenSSL return value */
	__u8 kind;        /*  56 enum mf_ssl_hs_kind */
	__u8 family;      /*  57 */
	__u8 role;        /*  58 enum mf_role */
	__u8 _pad0;       /*  59 */
	__u16 lport;      /*  60 */
	__u16 rport;      /*  62 */
	__u8 laddr[16];   /*  64 */
	__u8 raddr[16];   /*  80 */
	char comm[MF_COMM_LEN]; /* 96 */
	char sni[MF_SNI_LEN];   /* 112 server name the client set, NUL padded; empty on servers */
};                        /* 176 */

/* Body of MF_REC_PACKET; caplen bytes follow, starting at the link header. */
struct mf_packet {
	__u64 ts_ns;      /*  0 CLOCK_REALTIME ns (already wall clock) */
	__u32 ifindex;    /*  8 */
	__u32 caplen;     /* 12 bytes that follow */
	__u32 origlen;    /* 16 length on the wire */
	__u16 link_type;  /* 20 pcap LINKTYPE: 1 Ethernet (also lo), 101 raw IP */
	__u16 hatype;     /* 22 ARPHRD_*: 1 ether, 772 loopback, ... */
	__u16 ethertype;  /* 24 sll_protocol, host order (0x0800 IPv4, 0x86dd IPv6) */
	__u8 direction;   /* 26 PACKET_HOST 0, BROADCAST 1, MULTICAST 2, OTHERHOST 3, OUTGOING 4 */
	__u8 _pad0;       /* 27 */
	__u32 _pad1;      /* 28 */
	char ifname[MF_IFNAME_LEN]; /* 32 NUL padded */
};                        /* 48 */

enum mf_hello_flags {
	MF_HF_EBPF = 1 << 0,
	MF_HF_PACKETS = 1 << 1,
	MF_HF_SSL = 1 << 2,
};

/* Body of MF_REC_HELLO, always the first record. */
struct mf_hello {
	__u32 version;        /*   0 MF_WIRE_VERSION */
	__u32 payload_bytes;  /*   4 configured N */
	__u64 boot_offset_ns; /*   8 wall clock ns = ts_ns + this */
	__u64 start_wall_ns;  /*  16 */
	__u32 loader_pid;     /*  24 */
	__u32 snaplen;        /*  28 */
	__u32 flags;          /*  32 requested paths, enum mf_hello_flags */
	__u32 max_payload;    /*  36 MF_MAX_PAYLOAD */
	__u32 n_excluded;     /*  40 */
	__u32 excluded[8];    /*  44 first 8 excluded pids */
	__u32 _pad0;          /*  76 */
	char kernel_release[64]; /* 80 */
};                            /* 144 */

enum mf_log_level {
	MF_LOG_DEBUG = 0,
	MF_LOG_INFO = 1,
	MF_LOG_WARN = 2,
	MF_LOG_ERROR = 3,
};

/* Body of MF_REC_LOG; text_len bytes of UTF-8 follow (no NUL). */
struct mf_log {
	__u32 level;    /* 0 enum mf_log_level */
	__u32 text_len; /* 4 */
};                      /* 8 */

/* Counters kept by the BPF programs in the per-CPU array mf_stats. */
enum mf_kstat {
	MF_KS_DATA_EMITTED = 0,
	MF_KS_DATA_FILTERED,   /* pre-filter said no */
	MF_KS_DATA_RB_DROP,    /* ring buffer full */
	MF_KS_DATA_READ_ERR,   /* user memory could not be read */
	MF_KS_LC_EMITTED,
	MF_KS_LC_RB_DROP,
	MF_KS_TCP_EMITTED,
	MF_KS_TCP_RB_DROP,
	MF_KS_TCP_RTT_THROTTLED,
	MF_KS_SSL_EMITTED,
	MF_KS_SSL_FILTERED,
	MF_KS_SSL_RB_DROP,
	MF_KS_INT_RB_DROP,     /* loader-internal notifications lost */
	MF_KS_MAX,
};

enum mf_active {
	MF_ACT_SOCK_DATA = 1 << 0,
	MF_ACT_LIFECYCLE = 1 << 1,
	MF_ACT_TCP = 1 << 2,
	MF_ACT_SSL = 1 << 3,
	MF_ACT_PACKETS = 1 << 4,
};

/* Body of MF_REC_STATS, about every second. Counters are totals since start. */
struct mf_stats {
	__u64 wall_ns;          /*   0 CLOCK_REALTIME ns */
	__u64 boot_offset_ns;   /*   8 current value (follows clock steps) */
	__u32 active;           /*  16 enum mf_active: paths that are running */
	__u32 ssl_procs;        /*  20 processes with SSL uprobes attached now */
	__u64 k[MF_KS_MAX];     /*  24 enum mf_kstat, 13 x u64 */
	__u64 pkt_received;     /* 128 tpacket tp_packets (after the filter) */
	__u64 pkt_dropped;      /* 136 tpacket tp_drops: ring was full */
	__u64 pkt_freeze;       /* 144 tpacket tp_freeze_q_cnt */
	__u64 pkt_records;      /* 152 packet records written */
	__u64 records_out;      /* 160 records written, this one excluded */
	__u64 bytes_out;        /* 168 */
	__u64 ssl_attach_fail;  /* 176 */
};                              /* 184 */

/* Kernel → loader: a process mapped libssl, or forked from one that did. */
struct mf_ssl_candidate {
	__u32 pid;
	__u32 reason; /* 1 mmap of libssl, 2 fork of a traced process */
	__u64 ts_ns;
};

/* OpenSSL functions hooked, as uprobe_multi attach cookies (loader <-> BPF). */
enum mf_ssl_fn {
	MF_FN_READ = 1,
	MF_FN_WRITE = 2,
	MF_FN_READ_EX = 3,
	MF_FN_WRITE_EX = 4,
	MF_FN_CTRL = 5,
	MF_FN_CONNECT = 6,
	MF_FN_ACCEPT = 7,
	MF_FN_HANDSHAKE = 8,
};

/* Per-socket state in the shared map mf_socks (key: struct sock address). */
enum mf_sock_flags {
	MF_SF_EXCLUDED = 1 << 0, /* owned by an excluded pid: no tcp events either */
	/* Set by socket-data on a TCP socket whose start it saw (connect/accept while running) and
	 * whose first bytes in that direction matched no protocol: later calls in that direction
	 * are dropped at syscall entry until the socket is classified (the other direction may). */
	MF_SF_FOREIGN_OUT = 1 << 1,
	MF_SF_FOREIGN_IN = 1 << 2,
};

struct mf_sock_state {
	__u8 proto; /* enum mf_proto, 0 = not (yet) interesting */
	__u8 role;  /* enum mf_role */
	__u8 flags; /* enum mf_sock_flags */
	__u8 _pad[5];
};

#endif /* METAFLOW_H */
