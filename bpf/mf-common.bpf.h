/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Helpers and maps shared by every MetaFlow BPF object.
 *
 * Each object defines the shared maps itself; the loader makes the later
 * objects reuse the file descriptors of the first one (bpf_map__reuse_fd),
 * so all program families see one ring buffer, one socket table, one
 * exclusion set. Keep the definitions identical across objects.
 */
#ifndef MF_COMMON_BPF_H
#define MF_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "metaflow.h"

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define EINPROGRESS 115

/* One ring for every family: one consumer, and records come out in the
 * order they were produced. Size is set by the loader before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} mf_events SEC(".maps");

/* The loader is woken only when the ring first fills past this mark; otherwise it drains the
 * ring on its own 10 ms timer. A wakeup per record is a self-interrupt per record: measured on a
 * VM, it cost the traced syscalls more than the programs themselves. */
#define MF_WAKE_MARK (256u << 10)

/* Flags for bpf_ringbuf_output of `size` bytes (not yet in the ring). */
static __always_inline __u64 mf_wake_before(__u64 size)
{
	__u64 avail = bpf_ringbuf_query(&mf_events, BPF_RB_AVAIL_DATA);

	return (avail < MF_WAKE_MARK && avail + size >= MF_WAKE_MARK) ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* Flags for bpf_ringbuf_submit of a reserved record of `size` bytes (already counted). */
static __always_inline __u64 mf_wake_after(__u64 size)
{
	__u64 avail = bpf_ringbuf_query(&mf_events, BPF_RB_AVAIL_DATA);

	return (avail >= MF_WAKE_MARK && avail < MF_WAKE_MARK + size) ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MF_KS_MAX);
	__type(key, __u32);
	__type(value, __u64);
} mf_stats SEC(".maps");

/* tgids whose traffic is never captured (the agent and the loader). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} mf_excl SEC(".maps");

/* LRU because sockets die without a close() we can see (process exit). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct mf_sock_state);
} mf_socks SEC(".maps");

/* An SSL_* call in flight on a thread. The socket-data enter programs fill
 * in the socket the thread touches during the call, which is how plaintext
 * gets its fd and 5-tuple without knowing OpenSSL's struct layouts. */
struct mf_ssl_call {
	__u64 ssl;
	__u64 buf;
	__u64 len_ptr; /* size_t * of the _ex variants */
	__u64 ts;
	__u64 sock;
	__u64 inode;
	__s32 fd;
	__u32 len;
	__u8 source;  /* enum mf_source, or 0x80 | enum mf_ssl_hs_kind */
	__u8 depth;   /* nested handshake calls (SSL_connect -> SSL_do_handshake) */
	__u8 _pad[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct mf_ssl_call);
} mf_ssl_ctx SEC(".maps");

struct mf_tuple {
	__u8 family;
	__u8 ip_proto;
	__u16 lport;
	__u16 rport;
	__u8 laddr[16];
	__u8 raddr[16];
};

static __always_inline void mf_count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&mf_stats, &idx);

	if (v)
		*v += 1;
}

static __always_inline bool mf_excluded(__u32 tgid)
{
	return bpf_map_lookup_elem(&mf_excl, &tgid) != NULL;
}

/* The task's BTF pointer makes task->files->fdt plain loads the JIT guards, instead of a helper
 * call each: the fd walk runs on every traced call, socket or not. The slot of the fd array is
 * an indexed pointer, which only a helper may read. */
static __always_inline struct file *mf_fd_file(__u64 fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct files_struct *files;
	struct fdtable *fdt;
	struct file **fds;
	struct file *f = NULL;

	if (fd > 0x7fffffff)
		return NULL;
	files = task->files;
	if (!files)
		return NULL;
	fdt = files->fdt;
	if (!fdt || fd >= fdt->max_fds)
		return NULL;
	fds = fdt->fd;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* Kernels since 6.2 turn a kernel address into a typed pointer whose fields are plain loads;
 * weak, so older kernels load the same object and take the helper reads below instead. Every
 * traced call walks file → inode → socket → sock and reads the sock's tuple: as helper calls
 * those were most of what the programs cost per call. */
extern void *bpf_rdonly_cast(const void *obj__ign, __u32 btf_id) __ksym __weak;
#define MF_CAST(ptr, type) ((type *)bpf_rdonly_cast((const void *)(ptr), bpf_core_type_id_kernel(type)))
#define MF_HAVE_CAST (bpf_rdonly_cast != 0)

/* fd -> struct sock of the current task, only for AF_INET/AF_INET6 TCP/UDP.
 * Everything else (files, pipes, unix sockets) returns NULL so the callers
 * stop early and pay almost nothing on non-network I/O. */
static __always_inline struct sock *mf_fd_sock(__u64 fd, __u64 *inode)
{
	struct file *f = mf_fd_file(fd);
	struct socket *so;
	struct sock *sk;
	__u16 family, type, proto;
	umode_t mode;

	if (!f)
		return NULL;
	if (MF_HAVE_CAST) {
		struct file *fc = MF_CAST(f, struct file);
		struct inode *in = fc->f_inode;
		struct socket *soc;
		struct sock *skc;

		if (!in || (in->i_mode & S_IFMT) != S_IFSOCK)
			return NULL;
		soc = MF_CAST(fc->private_data, struct socket);
		skc = soc->sk;
		if (!skc)
			return NULL;
		family = skc->__sk_common.skc_family;
		if (family != AF_INET && family != AF_INET6)
			return NULL;
		type = skc->sk_type;
		proto = skc->sk_protocol;
		if (!((type == SOCK_STREAM && proto == IPPROTO_TCP) ||
		      (type == SOCK_DGRAM && proto == IPPROTO_UDP)))
			return NULL;
		if (inode)
			*inode = in->i_ino;
		return (struct sock *)(__u64)skc;
	}
	mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	so = BPF_CORE_READ(f, private_data);
	sk = BPF_CORE_READ(so, sk);
	if (!sk)
		return NULL;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	type = BPF_CORE_READ(sk, sk_type);
	proto = BPF_CORE_READ(sk, sk_protocol);
	if (!((type == SOCK_STREAM && proto == IPPROTO_TCP) ||
	      (type == SOCK_DGRAM && proto == IPPROTO_UDP)))
		return NULL;
	if (inode)
		*inode = BPF_CORE_READ(f, f_inode, i_ino);
	return sk;
}

static __always_inline void mf_sock_tuple(struct sock *sk, struct mf_tuple *t)
{
	if (MF_HAVE_CAST) {
		struct sock *s = MF_CAST(sk, struct sock);

		t->family = s->__sk_common.skc_family;
		t->ip_proto = s->sk_protocol;
		t->lport = s->__sk_common.skc_num;
		t->rport = bpf_ntohs(s->__sk_common.skc_dport);
		if (t->family == AF_INET) {
			__u32 l = s->__sk_common.skc_rcv_saddr, r = s->__sk_common.skc_daddr;

			__builtin_memcpy(t->laddr, &l, 4);
			__builtin_memcpy(t->raddr, &r, 4);
		} else {
			struct in6_addr l = s->__sk_common.skc_v6_rcv_saddr, r = s->__sk_common.skc_v6_daddr;

			__builtin_memcpy(t->laddr, &l, 16);
			__builtin_memcpy(t->raddr, &r, 16);
		}
		return;
	}
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	t->family = family;
	t->ip_proto = BPF_CORE_READ(sk, sk_protocol);
	t->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	t->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		bpf_core_read(t->laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(t->raddr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(t->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(t->raddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

/* Unconnected UDP (DNS resolvers, QUIC servers) has no peer in the sock;
 * the peer is in the sockaddr the call passed. */
static __always_inline bool mf_tuple_from_sockaddr(struct mf_tuple *t, const void *uaddr)
{
	struct {
		__u16 family;
		__u16 port;
		__u32 flow_or_v4;
		__u8 v6[16];
	} sa;

	if (!uaddr || bpf_probe_read_user(&sa, sizeof(sa), uaddr))
		return false;
	if (sa.family == AF_INET) {
		__builtin_memcpy(t->raddr, &sa.flow_or_v4, 4);
	} else if (sa.family == AF_INET6) {
		__builtin_memcpy(t->raddr, sa.v6, 16);
	} else {
		return false;
	}
	t->rport = bpf_ntohs(sa.port);
	return true;
}

/* A data record being built: header, fixed part, payload. Twice the payload cap: the copy
 * offset and the copy length are each bounded by MF_MAX_PAYLOAD, and the verifier checks their
 * sum. Socket data and SSL plaintext each build theirs in their own scratch map. */
struct mf_data_buf {
	struct mf_rec_hdr hdr;
	struct mf_data d;
	__u8 payload[2 * MF_MAX_PAYLOAD];
};

/* Sends a data record with `len` payload bytes (≤ MF_MAX_PAYLOAD); non-zero when the ring was
 * full. The verifier loses the bound of `len` through the copy loops: the mask restores it, and
 * the barrier stops clang from dropping the mask as redundant. */
static __always_inline long mf_data_output(struct mf_data_buf *buf, __u32 len)
{
	__u64 size = sizeof(struct mf_rec_hdr) + sizeof(struct mf_data) + len;

	barrier_var(len);
	return bpf_ringbuf_output(&mf_events, buf, sizeof(struct mf_rec_hdr) + sizeof(struct mf_data) + (len & (2 * MF_MAX_PAYLOAD - 1)),
				  mf_wake_before(size));
}

#define MF_PEEK 16

static __always_inline bool mf_is_upper(__u8 c) { return c >= 'A' && c <= 'Z'; }
static __always_inline bool mf_is_digit(__u8 c) { return c >= '0' && c <= '9'; }

/* The first bytes of a message, MF_PEEK of them used. Twice that size so that a copy of up to
 * MF_PEEK bytes at an offset below MF_PEEK (bytes held from earlier calls, or the previous iovec)
 * stays inside without the verifier having to follow the sum. */
struct mf_peek {
	__u8 b[2 * MF_PEEK];
};

static __always_inline void mf_count_n(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&mf_stats, &idx);

	if (v)
		*v += n;
}

/* The process's name (its thread-group leader's), not the calling thread's: dig's or Java's
 * worker threads have their own names, and the process may be gone when userspace looks. */
static __always_inline void mf_process_comm(char *dst, __u32 size)
{
	struct task_struct *leader = bpf_get_current_task_btf()->group_leader;

	if (!leader || bpf_probe_read_kernel_str(dst, size, &leader->comm) < 0)
		bpf_get_current_comm(dst, size);
}

/* The socket's endpoints and the process's name, as every data record carries them. */
static __always_inline void mf_data_identity(struct mf_data *d, const struct mf_tuple *t)
{
	d->family = t->family;
	d->ip_proto = t->ip_proto;
	d->lport = t->lport;
	d->rport = t->rport;
	d->_pad0 = 0;
	__builtin_memcpy(d->laddr, t->laddr, 16);
	__builtin_memcpy(d->raddr, t->raddr, 16);
	mf_process_comm(d->comm, sizeof(d->comm));
}

/* DNS header: a standard query or answer (opcode 0) of 1..4 questions. Off the DNS ports
 * (`hint` false) also a small message with few records, as resolvers and test servers listen on
 * other ports too. */
static __always_inline bool mf_dns_header(const __u8 *h, bool hint, __u64 len)
{
	if ((h[2] & 0x78) != 0 || h[4] != 0 || h[5] < 1 || h[5] > 4)
		return false;
	return hint || (len <= 4096 && h[6] == 0 && h[8] == 0 && h[10] == 0);
}

/* Cheap guess at the protocol from the first bytes of a message: `n` bytes of `pk` (at most
 * MF_PEEK), out of `total` (the bytes of the call, plus those held from the earlier calls whose
 * bytes start pk). It only decides whether the data is worth a ring-buffer slot; userspace does
 * the real parsing, so false positives cost bandwidth, false negatives data.
 * Global (not static) so the verifier checks it once, not per call site. */
__noinline int mf_classify(struct mf_peek *pk, __u32 n, __u16 lport, __u16 rport, __u64 total)
{
	const __u8 *b;

	if (!pk)
		return MF_PROTO_NONE;
	b = pk->b;
	if (n < 2)
		return MF_PROTO_NONE;

	if (b[0] == 0xda && b[1] == 0xbb)
		return MF_PROTO_DUBBO;

	/* TLS record: content type 20..23, version 3.x */
	if (n >= 5 && b[0] >= 0x14 && b[0] <= 0x17 && b[1] == 3 && b[2] <= 4)
		return MF_PROTO_TLS;

	if (n >= 4) {
		/* Methods are upper case and short: check the first word ends in a space. */
		if (mf_is_upper(b[0]) && mf_is_upper(b[1]) && mf_is_upper(b[2])) {
			if (b[0] == 'H' && b[1] == 'T' && b[2] == 'T' && b[3] == 'P' && n >= 7 &&
			    b[4] == '/' && b[5] == '1' && b[6] == '.')
				return MF_PROTO_HTTP1;
			if (b[0] == 'P' && b[1] == 'R' && b[2] == 'I' && b[3] == ' ')
				return MF_PROTO_HTTP2;
			if ((b[0] == 'G' && b[1] == 'E' && b[2] == 'T' && b[3] == ' ') ||
			    (b[0] == 'P' && b[1] == 'U' && b[2] == 'T' && b[3] == ' ') ||
			    (b[0] == 'P' && b[1] == 'O' && b[2] == 'S' && b[3] == 'T') ||
			    (b[0] == 'H' && b[1] == 'E' && b[2] == 'A' && b[3] == 'D') ||
			    (b[0] == 'D' && b[1] == 'E' && b[2] == 'L' && b[3] == 'E') ||
			    (b[0] == 'P' && b[1] == 'A' && b[2] == 'T' && b[3] == 'C') ||
			    (b[0] == 'O' && b[1] == 'P' && b[2] == 'T' && b[3] == 'I') ||
			    (b[0] == 'C' && b[1] == 'O' && b[2] == 'N' && b[3] == 'N') ||
			    (b[0] == 'T' && b[1] == 'R' && b[2] == 'A' && b[3] == 'C'))
				return MF_PROTO_HTTP1;
		}
	}

	/* Redis RESP: array/bulk need a digit or '-' (null); simple strings/errors
	 * need the CRLF terminator early. */
	if ((b[0] == '*' || b[0] == '$') && (mf_is_digit(b[1]) || b[1] == '-'))
		return MF_PROTO_REDIS;
	if ((b[0] == '+' || b[0] == '-' || b[0] == ':') && n >= 4) {
		for (int i = 2; i < MF_PEEK - 1; i++) {
			if (i + 1 >= n)
				break;
			if (b[i] == '\r' && b[i + 1] == '\n')
				return MF_PROTO_REDIS;
		}
	}

	/* HTTP/2 SETTINGS frame on stream 0: what either side sends first. */
	if (n >= 9 && b[3] == 4 && (b[4] & 0xfe) == 0 && b[5] == 0 && b[6] == 0 && b[7] == 0 &&
	    b[8] == 0) {
		__u32 flen = ((__u32)b[0] << 16) | ((__u32)b[1] << 8) | b[2];

		if (flen % 6 == 0 && flen <= 6 * 16)
			return MF_PROTO_HTTP2;
	}

	/* MQTT CONNECT: 0x10, varint length, then "\0\4MQTT" or "\0\6MQIsdp". */
	if (b[0] == 0x10 && n >= 8) {
		for (int i = 2; i < 5; i++) {
			if (i + 3 < n && b[i] == 0 && (b[i + 1] == 4 || b[i + 1] == 6) && b[i + 2] == 'M' &&
			    b[i + 3] == 'Q')
				return MF_PROTO_MQTT;
		}
	}

	/* DNS: over TCP the header sits behind a 2-byte length that covers the rest of the message
	 * (`total`); over UDP it comes first. */
	if (n >= 12) {
		bool hint = lport == 53 || rport == 53 || lport == 5353 || rport == 5353;

		if (n >= 14 && total >= 14 && ((__u32)b[0] << 8 | b[1]) + 2 == total &&
		    mf_dns_header(b + 2, hint, total - 2))
			return MF_PROTO_DNS;
		if (mf_dns_header(b, hint, total))
			return MF_PROTO_DNS;
	}

	if (n >= 5) {
		__u32 plen = (__u32)b[0] | ((__u32)b[1] << 8) | ((__u32)b[2] << 16);

		/* MySQL: server greeting (protocol 10) or a client command, seq 0. */
		if (b[3] == 0 && plen > 0 && plen < total) {
			if (b[4] == 0x0a && n >= 6 && mf_is_digit(b[5]))
				return MF_PROTO_MYSQL;
			if (plen + 4 == total &&
			    (b[4] == 0x03 || b[4] == 0x16 || b[4] == 0x17 || b[4] == 0x02 || b[4] == 0x0e))
				return MF_PROTO_MYSQL;
		}
	}

	if (n >= 14) {
		/* Kafka request: size, api_key, api_version, correlation id, client id length. */
		__u32 size = ((__u32)b[0] << 24) | ((__u32)b[1] << 16) | ((__u32)b[2] << 8) | b[3];
		__u16 key = ((__u16)b[4] << 8) | b[5];
		__u16 ver = ((__u16)b[6] << 8) | b[7];
		__s16 cid = (__s16)(((__u16)b[12] << 8) | b[13]);

		if (size + 4 == total && key <= 80 && ver <= 20 && cid >= -1 && cid < 512)
			return MF_PROTO_KAFKA;
	}

	return MF_PROTO_NONE;
}

#endif /* MF_COMMON_BPF_H */
