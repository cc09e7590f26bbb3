// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Socket payload capture on the data syscalls.
 *
 * Enter programs resolve the fd to an inet socket and stash the arguments
 * per thread; exit programs know how many bytes really moved and copy at
 * most that many. Resolving at enter keeps the cost on non-socket I/O
 * (files, pipes) to one fd-table walk and no map write.
 */
#include "mf-common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader before load; rodata lets the verifier prune on it. */
const volatile __u32 mf_cfg_payload = MF_DEFAULT_PAYLOAD;

#define MF_MAX_IOV 8
#define MF_MAX_MMSG 4
#define MSG_PEEK 2

enum mf_arg_kind {
	MF_ARG_BUF = 0,  /* buf = data pointer */
	MF_ARG_IOV = 1,  /* buf = struct iovec *, vlen = count */
	MF_ARG_MSG = 2,  /* buf = struct user_msghdr * */
	MF_ARG_MMSG = 3, /* buf = struct mmsghdr *, vlen = count */
};

struct mf_args {
	__u64 buf;
	__u64 addr; /* sockaddr * of sendto/recvfrom */
	__u64 sock;
	__u64 inode;
	__s32 fd;
	__u32 vlen;
	__u8 source;
	__u8 dir;
	__u8 kind;
	__u8 armed; /* set by the enter program, cleared by the exit program */
	__u8 _pad[4];
};

/* The call in flight per thread, kept in the task itself: a hash map keyed by thread id cost an
 * insert, a lookup and a delete per traced call (the LRU variant's list upkeep on top), about a
 * tenth of the kernel time the programs add to a loopback HTTP benchmark; task storage is a
 * pointer away and is freed with the thread, so a thread that dies inside a call leaks nothing. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct mf_args);
} mf_data_args SEC(".maps");

/* Larger than a per-CPU value may be, so a plain array indexed by CPU;
 * tracepoint programs do not migrate or nest on one CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct mf_data_buf);
} mf_data_scr SEC(".maps");

/*
 * Small calls on a TCP socket not classified yet. Servers read a header byte by byte (mosquitto
 * the MQTT fixed header, dnsmasq the 2-byte DNS length) and clients write a length alone: one
 * call says nothing. While the bytes seen in a direction stay below MF_PEEK, each call is held
 * here (its bytes appended to the direction's prefix, its metadata kept), and the next call is
 * classified on prefix + its own first bytes. When that matches, the held calls go out first,
 * in order and with their own timestamps (flag MF_DF_HELD), then the call; the parsers get the
 * whole stream. A call that does not fit drops the prefix of its direction.
 */
#define MF_HOLD_CALLS 8

struct mf_held {
	__u64 ts;
	__u32 tid;
	__u8 dir;
	__u8 source;
	__u8 len; /* all the call's bytes, at b[dir][off..]; 0: dropped */
	__u8 off;
};

struct mf_hold {
	__u64 inode; /* the socket's: a struct sock address reused by a new socket does not match */
	__u8 n[2];   /* bytes held per direction, < MF_PEEK */
	__u8 cnt;    /* entries of c[] used */
	__u8 _pad[5];
	__u8 b[2][MF_PEEK];
	struct mf_held c[MF_HOLD_CALLS];
};

/* Only sockets with held calls have an entry: removed when the socket is classified or has
 * nothing held any more. LRU: a socket that dies holding bytes is never told about. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct mf_hold);
} mf_hold SEC(".maps");

/* One zeroed value: new mf_hold entries are copied from it (too big for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mf_hold);
} mf_hold_zero SEC(".maps");

struct mf_emit {
	__u64 base;   /* single buffer, or 0 */
	__u64 iov;    /* struct iovec *, or 0 */
	__u64 bytes;
	__u64 addr;   /* sockaddr * for the peer of unconnected UDP */
	__u32 iovcnt;
	__u8 idx;
	__u8 _pad[3];
};

static __always_inline void mf_enter(__u8 source, __u8 dir, __u8 kind, __u64 fd, __u64 buf, __u64 vlen,
				     __u64 addr, __u64 flags)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mf_sock_state *st;
	struct mf_ssl_call *call;
	struct mf_args *a;
	struct sock *sk;
	__u64 ino = 0;

	/* The data stays queued and the next read returns it again. */
	if (flags & MSG_PEEK)
		return;
	if (mf_excluded(id >> 32))
		return;
	sk = mf_fd_sock(fd, &ino);
	if (!sk)
		return;

	call = bpf_map_lookup_elem(&mf_ssl_ctx, &id);
	if (call && !call->sock) {
		call->sock = (__u64)sk;
		call->inode = ino;
		call->fd = fd;
	}

	/* Judged foreign in this direction: the cheap way out, before anything is stashed. */
	st = bpf_map_lookup_elem(&mf_socks, &sk);
	if (st && !st->proto && (st->flags & (MF_SF_FOREIGN_OUT << (dir & 1))))
		return;

	a = bpf_task_storage_get(&mf_data_args, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!a)
		return;
	a->buf = buf;
	a->addr = addr;
	a->sock = (__u64)sk;
	a->inode = ino;
	a->fd = fd;
	a->vlen = vlen;
	a->source = source;
	a->dir = dir;
	a->kind = kind;
	a->armed = 1;
}

/* Copies the first bytes the call moved, up to `want` (≤ MF_PEEK), to pk->b[off..] (off <
 * MF_PEEK, off + want ≤ MF_PEEK), across iovecs: writev([length], [message]) has the message
 * in the second. Returns how many, or -1 when user memory was unreadable. */
__noinline int mf_peek_call(struct mf_emit *e, struct mf_peek *pk, __u32 off, __u32 want)
{
	__u32 got = 0;

	if (!e || !pk)
		return -1;
	if (want > e->bytes)
		want = e->bytes;
	if (want > MF_PEEK)
		want = MF_PEEK;
	for (int i = 0; i < MF_MAX_IOV; i++) {
		__u64 p, l;
		__u32 at;

		if (got >= want)
			break;
		if (e->iov) {
			struct iovec v;

			if (i >= e->iovcnt)
				break;
			if (bpf_probe_read_user(&v, sizeof(v), (void *)(e->iov + i * sizeof(v))))
				return -1;
			p = (__u64)v.iov_base;
			l = v.iov_len;
		} else {
			if (i > 0)
				break;
			p = e->base;
			l = want;
		}
		if (l > want - got)
			l = want - got;
		if (!l)
			continue;
		at = (off + got) & (MF_PEEK - 1);
		barrier_var(l);
		if (l > MF_PEEK)
			l = MF_PEEK;
		if (bpf_probe_read_user(pk->b + at, l, (void *)p))
			return -1;
		got += l;
	}
	return got;
}

/* An unclassified call on a TCP socket: `pk` holds the direction's held prefix and the call's
 * first bytes. Held when they stay below MF_PEEK (and a slot is free); otherwise dropped together
 * with the held calls of its direction, whose message did not match either. When we saw the
 * stream begin (connect/accept while running), that direction is then judged foreign; on older
 * sockets (or where the socket table forgot it) the next small call starts a new prefix. */
__noinline int mf_hold_or_drop(struct mf_args *a, struct mf_emit *e, struct mf_peek *pk,
			       struct mf_sock_state *st, struct mf_hold *hold)
{
	__u32 zero = 0, h = 0, cnt = 0, dropped = 1;
	struct mf_held *c;
	__u8 dir;
	__u64 sk;

	if (!a || !e || !pk)
		return 0;
	sk = a->sock;
	dir = a->dir & 1;
	if (hold) {
		h = hold->n[dir];
		cnt = hold->cnt;
	}
	if (h + e->bytes < MF_PEEK && cnt < MF_HOLD_CALLS) {
		if (!hold) {
			struct mf_hold *z = bpf_map_lookup_elem(&mf_hold_zero, &zero);

			if (!z || bpf_map_update_elem(&mf_hold, &sk, z, BPF_ANY))
				goto drop;
			hold = bpf_map_lookup_elem(&mf_hold, &sk);
			if (!hold)
				goto drop;
			hold->inode = a->inode;
			h = 0;
			cnt = 0;
		}
		c = &hold->c[cnt & (MF_HOLD_CALLS - 1)];
		c->ts = bpf_ktime_get_ns();
		c->tid = (__u32)bpf_get_current_pid_tgid();
		c->dir = dir;
		c->source = a->source;
		c->len = e->bytes;
		c->off = h;
		__builtin_memcpy(hold->b[dir], pk->b, MF_PEEK);
		hold->n[dir] = h + e->bytes;
		hold->cnt = cnt + 1;
		return 0;
	}
drop:
	if (hold) {
		for (int i = 0; i < MF_HOLD_CALLS; i++) {
			if (i >= hold->cnt)
				break;
			c = &hold->c[i];
			if (c->dir == dir && c->len) {
				c->len = 0;
				dropped++;
			}
		}
		hold->n[dir] = 0;
		if (!hold->n[dir ^ 1])
			bpf_map_delete_elem(&mf_hold, &sk);
	}
	mf_count_n(MF_KS_DATA_FILTERED, dropped);
	if (st && st->role)
		st->flags |= MF_SF_FOREIGN_OUT << dir;
	return 0;
}

/* Sends the held calls, oldest first; buf already has the fields they share with the call that
 * classified the socket. */
__noinline int mf_emit_held(struct mf_hold *hold, struct mf_data_buf *buf)
{
	if (!hold || !buf)
		return 0;
	for (int i = 0; i < MF_HOLD_CALLS; i++) {
		struct mf_held *c;
		__u32 len;

		if (i >= hold->cnt)
			break;
		c = &hold->c[i];
		len = c->len;
		if (!len)
			continue;
		if (len > MF_PEEK)
			len = MF_PEEK;
		buf->d.ts_ns = c->ts;
		buf->d.tid = c->tid;
		buf->d.direction = c->dir;
		buf->d.source = c->source;
		buf->d.bytes = len;
		buf->d.payload_len = len;
		buf->d.flags = MF_DF_HELD;
		buf->d.msg_index = 0;
		bpf_probe_read_kernel(buf->payload, len, &hold->b[c->dir & 1][c->off & (MF_PEEK - 1)]);
		buf->hdr.len = sizeof(struct mf_data) + len;
		if (mf_data_output(buf, len))
			mf_count(MF_KS_DATA_RB_DROP);
		else
			mf_count(MF_KS_DATA_EMITTED);
	}
	return 0;
}

/* Global so the verifier checks it once per program instead of once per
 * call site; that keeps loading the whole family to a fraction of a second. */
__noinline int mf_emit_one(struct mf_args *a, struct mf_emit *e)
{
	struct mf_peek pk = {};
	struct mf_sock_state *st;
	struct mf_hold *hold = NULL;
	struct mf_data_buf *buf;
	struct mf_tuple t = {};
	__u64 id, sk;
	__u32 cpu, want, copied = 0, limit = mf_cfg_payload, h = 0;
	__u8 proto = 0, flags = 0, dir;
	int m;

	if (!a || !e)
		return 0;
	sk = a->sock;
	dir = a->dir & 1;

	mf_sock_tuple((struct sock *)sk, &t);
	if (t.ip_proto == IPPROTO_UDP && t.rport == 0 && mf_tuple_from_sockaddr(&t, (void *)e->addr))
		flags |= MF_DF_ADDR_FROM_MSG;

	st = bpf_map_lookup_elem(&mf_socks, &sk);
	if (st && st->proto) {
		proto = st->proto;
		flags |= MF_DF_SOCK_KNOWN;
		if (proto == MF_PROTO_TLS)
			mf_peek_call(e, &pk, 0, 1);
	} else {
		/* Judged while this call was in flight. */
		if (st && (st->flags & (MF_SF_FOREIGN_OUT << dir))) {
			mf_count(MF_KS_DATA_FILTERED);
			return 0;
		}
		/* Datagrams are whole messages: only a byte stream gets a held prefix. */
		if (t.ip_proto == IPPROTO_TCP) {
			hold = bpf_map_lookup_elem(&mf_hold, &sk);
			if (hold && hold->inode != a->inode) {
				bpf_map_delete_elem(&mf_hold, &sk);
				hold = NULL;
			}
			if (hold) {
				h = hold->n[dir];
				if (h >= MF_PEEK)
					h = 0;
				__builtin_memcpy(pk.b, hold->b[dir], MF_PEEK);
			}
		}
		m = mf_peek_call(e, &pk, h, MF_PEEK - h);
		if (m < 0)
			goto read_err;
		if (h + m == 0)
			return 0;
		proto = mf_classify(&pk, h + m, t.lport, t.rport, h + e->bytes);
		if (!proto && h) {
			/* A stray byte held before a message must not hide it: the call alone, as
			 * without held bytes (those still go out first if it matches). */
			struct mf_peek alone = {};

			m = mf_peek_call(e, &alone, 0, MF_PEEK);
			if (m > 0) {
				proto = mf_classify(&alone, m, t.lport, t.rport, e->bytes);
				if (proto)
					pk = alone;
			}
		}
		if (!proto) {
			if (t.ip_proto == IPPROTO_TCP)
				mf_hold_or_drop(a, e, &pk, st, hold);
			else
				mf_count(MF_KS_DATA_FILTERED);
			return 0;
		}
		if (st) {
			st->proto = proto;
		} else {
			struct mf_sock_state ns = { .proto = proto };

			bpf_map_update_elem(&mf_socks, &sk, &ns, BPF_NOEXIST);
		}
	}
	if (proto == MF_PROTO_TLS && pk.b[0] != 0x16 && limit > MF_TLS_CIPHERTEXT_CAP) {
		limit = MF_TLS_CIPHERTEXT_CAP;
		flags |= MF_DF_TLS_CAPPED;
	}

	cpu = bpf_get_smp_processor_id();
	buf = bpf_map_lookup_elem(&mf_data_scr, &cpu);
	if (!buf)
		return 0;

	/* What every record of this socket and process shares, held calls included. */
	id = bpf_get_current_pid_tgid();
	buf->hdr.type = MF_REC_SOCK_DATA;
	buf->d.sock_id = sk;
	buf->d.inode = a->inode;
	buf->d.cgroup_id = bpf_get_current_cgroup_id();
	buf->d.ssl_ptr = 0;
	buf->d.pid = id >> 32;
	buf->d.fd = a->fd;
	buf->d.role = st ? st->role : MF_ROLE_UNKNOWN;
	buf->d.proto = proto;
	mf_data_identity(&buf->d, &t);

	if (hold) {
		mf_emit_held(hold, buf);
		bpf_map_delete_elem(&mf_hold, &sk);
	}

	want = e->bytes < limit ? e->bytes : limit;
	if (want > MF_MAX_PAYLOAD)
		want = MF_MAX_PAYLOAD;
	for (int i = 0; i < MF_MAX_IOV; i++) {
		__u64 p, l;
		__u32 off;

		if (copied >= want)
			break;
		if (e->iov) {
			struct iovec v;

			if (i >= e->iovcnt)
				break;
			if (bpf_probe_read_user(&v, sizeof(v), (void *)(e->iov + i * sizeof(v))))
				break;
			p = (__u64)v.iov_base;
			l = v.iov_len;
		} else {
			if (i > 0)
				break;
			p = e->base;
			l = want;
		}
		if (l > want - copied)
			l = want - copied;
		off = copied & (MF_MAX_PAYLOAD - 1);
		barrier_var(l);
		if (l > MF_MAX_PAYLOAD)
			l = MF_MAX_PAYLOAD;
		if (bpf_probe_read_user(buf->payload + off, l, (void *)p)) {
			mf_count(MF_KS_DATA_READ_ERR);
			break;
		}
		copied += l;
	}

	buf->d.ts_ns = bpf_ktime_get_ns();
	buf->d.tid = (__u32)id;
	buf->d.bytes = e->bytes;
	buf->d.direction = a->dir;
	buf->d.source = a->source;
	buf->d.msg_index = e->idx;
	if (copied > MF_MAX_PAYLOAD)
		copied = MF_MAX_PAYLOAD;
	if (e->bytes > copied)
		flags |= MF_DF_TRUNCATED;
	buf->d.flags = flags;
	buf->d.payload_len = copied;
	buf->hdr.len = sizeof(struct mf_data) + copied;
	if (mf_data_output(buf, copied))
		mf_count(MF_KS_DATA_RB_DROP);
	else
		mf_count(MF_KS_DATA_EMITTED);
	return 0;

read_err:
	mf_count(MF_KS_DATA_READ_ERR);
	return 0;
}

/* kind is a constant at every call site, so each exit program keeps only
 * its own branch below: less for the verifier to walk. */
static __always_inline void mf_exit(long ret, const __u8 kind)
{
	struct mf_args *ap, a;
	struct mf_emit e = {};

	ap = bpf_task_storage_get(&mf_data_args, bpf_get_current_task_btf(), 0, 0);
	if (!ap || !ap->armed)
		return;
	a = *ap;
	ap->armed = 0;
	if (ret <= 0)
		return;

	if (kind == MF_ARG_BUF) {
		e.base = a.buf;
		e.bytes = ret;
		e.addr = a.addr;
		mf_emit_one(&a, &e);
	} else if (kind == MF_ARG_IOV) {
		e.iov = a.buf;
		e.iovcnt = a.vlen;
		e.bytes = ret;
		mf_emit_one(&a, &e);
	} else if (kind == MF_ARG_MSG) {
		struct user_msghdr m;

		if (bpf_probe_read_user(&m, sizeof(m), (void *)a.buf))
			return;
		e.iov = (__u64)m.msg_iov;
		e.iovcnt = m.msg_iovlen;
		e.bytes = ret;
		e.addr = m.msg_namelen > 0 ? (__u64)m.msg_name : 0;
		mf_emit_one(&a, &e);
	} else {
		/* ret counts messages; each carries its own length. */
		for (int i = 0; i < MF_MAX_MMSG; i++) {
			struct mmsghdr mm;

			if (i >= ret || i >= a.vlen)
				break;
			if (bpf_probe_read_user(&mm, sizeof(mm), (void *)(a.buf + i * sizeof(mm))))
				break;
			if (mm.msg_len == 0)
				continue;
			e.iov = (__u64)mm.msg_hdr.msg_iov;
			e.iovcnt = mm.msg_hdr.msg_iovlen;
			e.bytes = mm.msg_len;
			e.addr = mm.msg_hdr.msg_namelen > 0 ? (__u64)mm.msg_hdr.msg_name : 0;
			e.idx = i;
			mf_emit_one(&a, &e);
		}
	}
}

#define MF_ENTER(name) SEC("tracepoint/syscalls/sys_enter_" #name) int mf_##name##_e(struct trace_event_raw_sys_enter *ctx)
#define MF_EXIT(name, kind) \
	SEC("tracepoint/syscalls/sys_exit_" #name) int mf_##name##_x(struct trace_event_raw_sys_exit *ctx) \
	{ mf_exit(ctx->ret, kind); return 0; }

MF_ENTER(read) { mf_enter(MF_SRC_READ, MF_DIR_INGRESS, MF_ARG_BUF, ctx->args[0], ctx->args[1], 0, 0, 0); return 0; }
MF_EXIT(read, MF_ARG_BUF)
MF_ENTER(write) { mf_enter(MF_SRC_WRITE, MF_DIR_EGRESS, MF_ARG_BUF, ctx->args[0], ctx->args[1], 0, 0, 0); return 0; }
MF_EXIT(write, MF_ARG_BUF)
MF_ENTER(readv) { mf_enter(MF_SRC_READV, MF_DIR_INGRESS, MF_ARG_IOV, ctx->args[0], ctx->args[1], ctx->args[2], 0, 0); return 0; }
MF_EXIT(readv, MF_ARG_IOV)
MF_ENTER(writev) { mf_enter(MF_SRC_WRITEV, MF_DIR_EGRESS, MF_ARG_IOV, ctx->args[0], ctx->args[1], ctx->args[2], 0, 0); return 0; }
MF_EXIT(writev, MF_ARG_IOV)
/* recvfrom(fd, buf, len, flags, src_addr, addrlen) */
MF_ENTER(recvfrom) { mf_enter(MF_SRC_RECVFROM, MF_DIR_INGRESS, MF_ARG_BUF, ctx->args[0], ctx->args[1], 0, ctx->args[4], ctx->args[3]); return 0; }
MF_EXIT(recvfrom, MF_ARG_BUF)
/* sendto(fd, buf, len, flags, dest_addr, addrlen) */
MF_ENTER(sendto) { mf_enter(MF_SRC_SENDTO, MF_DIR_EGRESS, MF_ARG_BUF, ctx->args[0], ctx->args[1], 0, ctx->args[4], 0); return 0; }
MF_EXIT(sendto, MF_ARG_BUF)
MF_ENTER(recvmsg) { mf_enter(MF_SRC_RECVMSG, MF_DIR_INGRESS, MF_ARG_MSG, ctx->args[0], ctx->args[1], 0, 0, ctx->args[2]); return 0; }
MF_EXIT(recvmsg, MF_ARG_MSG)
MF_ENTER(sendmsg) { mf_enter(MF_SRC_SENDMSG, MF_DIR_EGRESS, MF_ARG_MSG, ctx->args[0], ctx->args[1], 0, 0, 0); return 0; }
MF_EXIT(sendmsg, MF_ARG_MSG)
MF_ENTER(recvmmsg) { mf_enter(MF_SRC_RECVMMSG, MF_DIR_INGRESS, MF_ARG_MMSG, ctx->args[0], ctx->args[1], ctx->args[2], 0, ctx->args[3]); return 0; }
MF_EXIT(recvmmsg, MF_ARG_MMSG)
MF_ENTER(sendmmsg) { mf_enter(MF_SRC_SENDMMSG, MF_DIR_EGRESS, MF_ARG_MMSG, ctx->args[0], ctx->args[1], ctx->args[2], 0, 0); return 0; }
MF_EXIT(sendmmsg, MF_ARG_MMSG)
