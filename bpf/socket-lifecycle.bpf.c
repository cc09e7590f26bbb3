// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Socket roles and lifetimes: connect() makes the process the client of a
 * socket, accept() the server, close() ends what we tracked. The role goes
 * into mf_socks so data records can say c-p / s-p without userspace having
 * to guess from port numbers.
 */
#include "mf-common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct mf_conn_args {
	__u64 sock;
	__u64 inode;
	__s32 fd;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct mf_conn_args);
} mf_conn_args SEC(".maps");

struct mf_sock_rec {
	struct mf_rec_hdr hdr;
	struct mf_sock_event ev;
};

static __always_inline void mf_emit_sock(__u8 kind, struct sock *sk, __u64 inode, __s32 fd, __s32 ret,
					 __u8 role, __u8 proto)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mf_tuple t = {};
	struct mf_sock_rec *r;

	r = bpf_ringbuf_reserve(&mf_events, sizeof(*r), 0);
	if (!r) {
		mf_count(MF_KS_LC_RB_DROP);
		return;
	}
	mf_sock_tuple(sk, &t);
	r->hdr.type = MF_REC_SOCK_EVENT;
	r->hdr.len = sizeof(r->ev);
	r->ev.ts_ns = bpf_ktime_get_ns();
	r->ev.sock_id = (__u64)sk;
	r->ev.inode = inode;
	r->ev.cgroup_id = bpf_get_current_cgroup_id();
	r->ev.pid = id >> 32;
	r->ev.tid = (__u32)id;
	r->ev.fd = fd;
	r->ev.ret = ret;
	r->ev.kind = kind;
	r->ev.family = t.family;
	r->ev.ip_proto = t.ip_proto;
	r->ev.role = role;
	r->ev.lport = t.lport;
	r->ev.rport = t.rport;
	__builtin_memcpy(r->ev.laddr, t.laddr, 16);
	__builtin_memcpy(r->ev.raddr, t.raddr, 16);
	mf_process_comm(r->ev.comm, sizeof(r->ev.comm));
	r->ev.proto = proto;
	__builtin_memset(r->ev._pad, 0, sizeof(r->ev._pad));
	bpf_ringbuf_submit(r, mf_wake_after(sizeof(*r)));
	mf_count(MF_KS_LC_EMITTED);
}

/* A fresh state per connect/accept: sock addresses get reused, and a stale
 * classification would let an unrelated connection through the filter. */
static __always_inline void mf_set_state(struct sock *sk, __u8 role, __u8 flags)
{
	struct mf_sock_state st = { .role = role, .flags = flags };
	__u64 key = (__u64)sk;

	bpf_map_update_elem(&mf_socks, &key, &st, BPF_ANY);
}

SEC("tracepoint/syscalls/sys_enter_connect")
int mf_connect_e(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mf_conn_args a = {};
	struct sock *sk;
	__u64 ino = 0;

	sk = mf_fd_sock(ctx->args[0], &ino);
	if (!sk)
		return 0;
	/* Marked before the handshake so tcp-events can already skip the
	 * agent's own connection states. */
	if (mf_excluded(id >> 32)) {
		mf_set_state(sk, MF_ROLE_CLIENT, MF_SF_EXCLUDED);
		return 0;
	}
	a.sock = (__u64)sk;
	a.inode = ino;
	a.fd = ctx->args[0];
	bpf_map_update_elem(&mf_conn_args, &id, &a, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int mf_connect_x(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mf_conn_args *ap, a;
	long ret = ctx->ret;

	ap = bpf_map_lookup_elem(&mf_conn_args, &id);
	if (!ap)
		return 0;
	a = *ap;
	bpf_map_delete_elem(&mf_conn_args, &id);
	/* Non-blocking clients (curl, most runtimes) get EINPROGRESS; the
	 * outcome then shows up as a tcp state event. */
	if (ret != 0 && ret != -EINPROGRESS)
		return 0;
	mf_set_state((struct sock *)a.sock, MF_ROLE_CLIENT, 0);
	mf_emit_sock(MF_SE_CONNECT, (struct sock *)a.sock, a.inode, a.fd, ret, MF_ROLE_CLIENT, 0);
	return 0;
}

/* accept needs no enter program: the new fd is the return value and the
 * fd table is already updated when the exit tracepoint fires. */
static __always_inline void mf_accept_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sock *sk;
	__u64 ino = 0;

	if (ret < 0)
		return;
	sk = mf_fd_sock(ret, &ino);
	if (!sk)
		return;
	if (mf_excluded(id >> 32)) {
		mf_set_state(sk, MF_ROLE_SERVER, MF_SF_EXCLUDED);
		return;
	}
	mf_set_state(sk, MF_ROLE_SERVER, 0);
	mf_emit_sock(MF_SE_ACCEPT, sk, ino, ret, ret, MF_ROLE_SERVER, 0);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int mf_accept_x(struct trace_event_raw_sys_exit *ctx)
{
	mf_accept_exit(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int mf_accept4_x(struct trace_event_raw_sys_exit *ctx)
{
	mf_accept_exit(ctx->ret);
	return 0;
}

/* Emitted at enter: the fd still resolves to the socket here, not after. */
SEC("tracepoint/syscalls/sys_enter_close")
int mf_close_e(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mf_sock_state *st;
	struct sock *sk;
	__u64 ino = 0, key;
	__u8 role, proto;

	if (mf_excluded(id >> 32))
		return 0;
	sk = mf_fd_sock(ctx->args[0], &ino);
	if (!sk)
		return 0;
	key = (__u64)sk;
	st = bpf_map_lookup_elem(&mf_socks, &key);
	if (!st || (st->flags & MF_SF_EXCLUDED))
		return 0;
	role = st->role;
	proto = st->proto;
	bpf_map_delete_elem(&mf_socks, &key);
	mf_emit_sock(MF_SE_CLOSE, sk, ino, ctx->args[0], 0, role, proto);
	return 0;
}
