// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * OpenSSL plaintext: uprobes on SSL_read/SSL_write(_ex) and the handshake
 * entry points, attached by the loader per process (never system-wide).
 *
 * The fd is not read from OpenSSL's structs (their layout changes between
 * releases); instead the socket-data enter programs record which socket a
 * thread touches while it is inside an SSL_* call (mf_ssl_ctx), and we
 * remember it per SSL* for the calls served from OpenSSL's own buffer.
 *
 * Two tracepoints here only tell the loader where to attach next: a
 * process mapping libssl, and a fork of a process already traced.
 */
#include "mf-common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 mf_cfg_payload = MF_DEFAULT_PAYLOAD;

#define SSL_CTRL_SET_TLSEXT_HOSTNAME 55
#define MF_SRC_HS 0x80


struct mf_ssl_conn {
	__u64 sock;
	__u64 inode;
	__u64 hs_start;
	__s32 fd;
	__u8 proto;
	__u8 role;
	__u8 _pad[2];
	char sni[MF_SNI_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct mf_ssl_conn);
} mf_ssl_conns SEC(".maps");

/* tgids the loader attached to, so their forks can be followed at once. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} mf_ssl_pids SEC(".maps");

/* One candidate notification per process is enough; ld.so maps libssl in
 * several mmap calls. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} mf_ssl_seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct mf_data_buf);
} mf_ssl_scr SEC(".maps");

struct mf_hs_rec {
	struct mf_rec_hdr hdr;
	struct mf_ssl_handshake ev;
};

struct mf_cand_rec {
	struct mf_rec_hdr hdr;
	struct mf_ssl_candidate c;
};

static __always_inline struct mf_ssl_conn *mf_conn_get(__u64 ssl)
{
	struct mf_ssl_conn *c = bpf_map_lookup_elem(&mf_ssl_conns, &ssl);
	struct mf_ssl_conn fresh = { .fd = -1 };

	if (c)
		return c;
	bpf_map_update_elem(&mf_ssl_conns, &ssl, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&mf_ssl_conns, &ssl);
}

static __always_inline void mf_call_enter(__u64 ssl, __u64 buf, __u64 len, __u64 len_ptr, __u8 source)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mf_ssl_call c = {};

	c.ssl = ssl;
	c.buf = buf;
	c.len = len;
	c.len_ptr = len_ptr;
	c.ts = bpf_ktime_get_ns();
	c.fd = -1;
	c.source = source;
	bpf_map_update_elem(&mf_ssl_ctx, &id, &c, BPF_ANY);
}

/* Pop this thread's call; also teach mf_ssl_conns the socket the call used. */
static __always_inline bool mf_call_exit(struct mf_ssl_call *out, struct mf_ssl_conn **connp)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mf_ssl_call *c = bpf_map_lookup_elem(&mf_ssl_ctx, &id);
	struct mf_ssl_conn *conn;

	if (!c)
		return false;
	*out = *c;
	bpf_map_delete_elem(&mf_ssl_ctx, &id);
	conn = mf_conn_get(out->ssl);
	if (conn && out->sock) {
		conn->sock = out->sock;
		conn->inode = out->inode;
		conn->fd = out->fd;
	}
	*connp = conn;
	return true;
}

static __noinline int mf_ssl_emit(struct mf_ssl_call *c, struct mf_ssl_conn *conn, __u64 bytes)
{
	struct mf_peek pk = {};
	struct mf_tuple t = {};
	struct mf_data_buf *buf;
	__u64 id = bpf_get_current_pid_tgid();
	__u64 sk = 0, ino = 0;
	__u32 cpu, want, l, limit = mf_cfg_payload;
	__u8 proto = 0, role = 0, flags = MF_DF_TLS;
	__s32 fd = -1;

	if (conn) {
		sk = conn->sock;
		ino = conn->inode;
		fd = conn->fd;
		proto = conn->proto;
		role = conn->role;
	}
	if (sk) {
		struct mf_sock_state *st = bpf_map_lookup_elem(&mf_socks, &sk);

		mf_sock_tuple((struct sock *)sk, &t);
		if (st && st->role)
			role = st->role;
	}

	if (proto) {
		flags |= MF_DF_SOCK_KNOWN;
	} else {
		__u32 n = bytes < MF_PEEK ? bytes : MF_PEEK;

		barrier_var(n);
		if (n > MF_PEEK)
			n = MF_PEEK;
		if (bpf_probe_read_user(pk.b, n, (void *)c->buf)) {
			mf_count(MF_KS_DATA_READ_ERR);
			return 0;
		}
		proto = mf_classify(&pk, n, t.lport, t.rport, bytes);
		if (!proto) {
			mf_count(MF_KS_SSL_FILTERED);
			return 0;
		}
		if (conn)
			conn->proto = proto;
	}

	cpu = bpf_get_smp_processor_id();
	buf = bpf_map_lookup_elem(&mf_ssl_scr, &cpu);
	if (!buf)
		return 0;
	want = bytes < limit ? bytes : limit;
	l = want;
	barrier_var(l);
	if (l > MF_MAX_PAYLOAD)
		l = MF_MAX_PAYLOAD;
	if (bpf_probe_read_user(buf->payload, l, (void *)c->buf)) {
		mf_count(MF_KS_DATA_READ_ERR);
		l = 0;
	}
	if (bytes > l)
		flags |= MF_DF_TRUNCATED;

	buf->hdr.type = MF_REC_SSL_DATA;
	buf->hdr.len = sizeof(struct mf_data) + l;
	buf->d.ts_ns = bpf_ktime_get_ns();
	buf->d.sock_id = sk;
	buf->d.inode = ino;
	buf->d.cgroup_id = bpf_get_current_cgroup_id();
	buf->d.ssl_ptr = c->ssl;
	buf->d.bytes = bytes;
	buf->d.pid = id >> 32;
	buf->d.tid = (__u32)id;
	buf->d.fd = fd;
	buf->d.payload_len = l;
	buf->d.direction = (c->source == MF_SRC_SSL_READ || c->source == MF_SRC_SSL_READ_EX) ? MF_DIR_INGRESS
											: MF_DIR_EGRESS;
	buf->d.source = c->source;
	buf->d.role = role;
	buf->d.proto = proto;
	buf->d.flags = flags;
	buf->d.msg_index = 0;
	mf_data_identity(&buf->d, &t);
	if (mf_data_output(buf, l))
		mf_count(MF_KS_SSL_RB_DROP);
	else
		mf_count(MF_KS_SSL_EMITTED);
	return 0;
}

static __always_inline int mf_data_ret(long ret, bool ex)
{
	struct mf_ssl_conn *conn = NULL;
	struct mf_ssl_call c;
	__u64 bytes = 0;

	if (!mf_call_exit(&c, &conn))
		return 0;
	if (c.source & MF_SRC_HS)
		return 0;
	if (ex) {
		/* _ex returns 1 on success and the count through a pointer. */
		if (ret != 1 || !c.len_ptr || bpf_probe_read_user(&bytes, sizeof(bytes), (void *)c.len_ptr))
			return 0;
	} else {
		if (ret <= 0)
			return 0;
		bytes = ret;
	}
	if (!bytes)
		return 0;
	return mf_ssl_emit(&c, conn, bytes);
}

/* SSL_set_tlsext_host_name() is a macro over SSL_ctrl(). */
static __always_inline void mf_ctrl_enter(void *ssl, int cmd, void *parg)
{
	struct mf_ssl_conn *conn;

	if (cmd != SSL_CTRL_SET_TLSEXT_HOSTNAME || !parg)
		return;
	conn = mf_conn_get((__u64)ssl);
	if (!conn)
		return;
	bpf_probe_read_user_str(conn->sni, sizeof(conn->sni), parg);
	conn->role = MF_ROLE_CLIENT;
}

/* SSL_connect/SSL_accept call SSL_do_handshake: only the outermost call of
 * a thread reports, nested ones just count depth. */
static __always_inline void mf_hs_enter(__u64 ssl, __u8 kind)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mf_ssl_call *c = bpf_map_lookup_elem(&mf_ssl_ctx, &id);
	struct mf_ssl_conn *conn;

	if (c && (c->source & MF_SRC_HS) && c->ssl == ssl) {
		c->depth++;
		return;
	}
	mf_call_enter(ssl, 0, 0, 0, MF_SRC_HS | kind);
	conn = mf_conn_get(ssl);
	if (conn && !conn->hs_start)
		conn->hs_start = bpf_ktime_get_ns();
	if (conn && kind == MF_HS_CONNECT)
		conn->role = MF_ROLE_CLIENT;
	else if (conn && kind == MF_HS_ACCEPT)
		conn->role = MF_ROLE_SERVER;
}

static __always_inline void mf_hs_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mf_ssl_call *cp = bpf_map_lookup_elem(&mf_ssl_ctx, &id);
	struct mf_ssl_conn *conn = NULL;
	struct mf_tuple t = {};
	struct mf_hs_rec *r;
	struct mf_ssl_call c;
	__u64 now = bpf_ktime_get_ns();

	if (!cp || !(cp->source & MF_SRC_HS))
		return;
	if (cp->depth) {
		cp->depth--;
		return;
	}
	if (!mf_call_exit(&c, &conn))
		return;
	/* < 0 is mostly WANT_READ/WANT_WRITE on non-blocking sockets: not an
	 * outcome yet, the call will be repeated. */
	if (ret < 0)
		return;

	r = bpf_ringbuf_reserve(&mf_events, sizeof(*r), 0);
	if (!r) {
		mf_count(MF_KS_SSL_RB_DROP);
		return;
	}
	__builtin_memset(&r->ev, 0, sizeof(r->ev));
	r->hdr.type = MF_REC_SSL_HANDSHAKE;
	r->hdr.len = sizeof(r->ev);
	r->ev.ts_ns = now;
	r->ev.ssl_ptr = c.ssl;
	r->ev.cgroup_id = bpf_get_current_cgroup_id();
	r->ev.pid = id >> 32;
	r->ev.tid = (__u32)id;
	r->ev.ret = ret;
	r->ev.kind = c.source & ~MF_SRC_HS;
	r->ev.fd = -1;
	r->ev.duration_ns = now - c.ts;
	if (conn) {
		__u64 sk = conn->sock;

		if (conn->hs_start)
			r->ev.duration_ns = now - conn->hs_start;
		conn->hs_start = 0;
		r->ev.sock_id = sk;
		r->ev.fd = conn->fd;
		r->ev.role = conn->role;
		bpf_probe_read_kernel_str(r->ev.sni, sizeof(r->ev.sni), conn->sni);
		if (sk) {
			struct mf_sock_state *st = bpf_map_lookup_elem(&mf_socks, &sk);

			if (!r->ev.role && st)
				r->ev.role = st->role;
			mf_sock_tuple((struct sock *)sk, &t);
			r->ev.family = t.family;
			r->ev.lport = t.lport;
			r->ev.rport = t.rport;
			__builtin_memcpy(r->ev.laddr, t.laddr, 16);
			__builtin_memcpy(r->ev.raddr, t.raddr, 16);
		}
	}
	mf_process_comm(r->ev.comm, sizeof(r->ev.comm));
	bpf_ringbuf_submit(r, mf_wake_after(sizeof(*r)));
	mf_count(MF_KS_SSL_EMITTED);
}

/* One entry and one return routine for every hooked function. fn is a
 * constant in the per-function programs (the branches fold away) and the
 * attach cookie in the uprobe_multi programs. */
static __always_inline int mf_on_entry(struct pt_regs *ctx, __u64 fn)
{
	__u64 ssl = PT_REGS_PARM1(ctx), a2 = PT_REGS_PARM2(ctx), a3 = PT_REGS_PARM3(ctx),
	      a4 = PT_REGS_PARM4(ctx);

	switch (fn) {
	case MF_FN_READ:
		mf_call_enter(ssl, a2, (int)a3, 0, MF_SRC_SSL_READ);
		break;
	case MF_FN_WRITE:
		mf_call_enter(ssl, a2, (int)a3, 0, MF_SRC_SSL_WRITE);
		break;
	case MF_FN_READ_EX:
		mf_call_enter(ssl, a2, a3, a4, MF_SRC_SSL_READ_EX);
		break;
	case MF_FN_WRITE_EX:
		mf_call_enter(ssl, a2, a3, a4, MF_SRC_SSL_WRITE_EX);
		break;
	case MF_FN_CTRL:
		mf_ctrl_enter((void *)ssl, (int)a2, (void *)a4);
		break;
	case MF_FN_CONNECT:
		mf_hs_enter(ssl, MF_HS_CONNECT);
		break;
	case MF_FN_ACCEPT:
		mf_hs_enter(ssl, MF_HS_ACCEPT);
		break;
	case MF_FN_HANDSHAKE:
		mf_hs_enter(ssl, MF_HS_DO_HANDSHAKE);
		break;
	}
	return 0;
}

static __always_inline int mf_on_return(struct pt_regs *ctx, __u64 fn)
{
	long ret = (int)PT_REGS_RC(ctx);

	switch (fn) {
	case MF_FN_READ:
	case MF_FN_WRITE:
		return mf_data_ret(ret, false);
	case MF_FN_READ_EX:
	case MF_FN_WRITE_EX:
		return mf_data_ret(ret, true);
	case MF_FN_CONNECT:
	case MF_FN_ACCEPT:
	case MF_FN_HANDSHAKE:
		mf_hs_exit(ret);
		break;
	}
	return 0;
}

/* uprobe_multi (kernel 6.6+): one link per process for all entries and one
 * for all returns. The loader sets the attach type before load; detaching
 * costs one RCU-tasks grace period per link instead of one per probe. */
SEC("uprobe")
int mf_ssl_entry(struct pt_regs *ctx)
{
	return mf_on_entry(ctx, bpf_get_attach_cookie(ctx));
}

SEC("uprobe")
int mf_ssl_return(struct pt_regs *ctx)
{
	return mf_on_return(ctx, bpf_get_attach_cookie(ctx));
}

/* Per-function programs for kernels without uprobe_multi. */
#define MF_PROBE_PAIR(name, fn)                                             \
	SEC("uprobe") int mf_ssl_##name##_e(struct pt_regs *ctx) { return mf_on_entry(ctx, fn); } \
	SEC("uretprobe") int mf_ssl_##name##_x(struct pt_regs *ctx) { return mf_on_return(ctx, fn); }

MF_PROBE_PAIR(rd, MF_FN_READ)
MF_PROBE_PAIR(wr, MF_FN_WRITE)
MF_PROBE_PAIR(rdex, MF_FN_READ_EX)
MF_PROBE_PAIR(wrex, MF_FN_WRITE_EX)
MF_PROBE_PAIR(conn, MF_FN_CONNECT)
MF_PROBE_PAIR(acc, MF_FN_ACCEPT)
MF_PROBE_PAIR(hs, MF_FN_HANDSHAKE)

SEC("uprobe")
int mf_ssl_ctrl_e(struct pt_regs *ctx)
{
	return mf_on_entry(ctx, MF_FN_CTRL);
}

static __always_inline void mf_candidate(__u32 pid, __u32 reason)
{
	struct mf_cand_rec *r = bpf_ringbuf_reserve(&mf_events, sizeof(*r), 0);

	if (!r) {
		mf_count(MF_KS_INT_RB_DROP);
		return;
	}
	r->hdr.type = MF_INT_SSL_CANDIDATE;
	r->hdr.len = sizeof(r->c);
	r->c.pid = pid;
	r->c.reason = reason;
	r->c.ts_ns = bpf_ktime_get_ns();
	bpf_ringbuf_submit(r, mf_wake_after(sizeof(*r)));
}

/* Catching the mmap lets the loader attach while ld.so is still loading,
 * before a short-lived client (curl) gets to its first SSL_write. */
SEC("tracepoint/syscalls/sys_enter_mmap")
int mf_ssl_mmap(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	const unsigned char *name;
	char n[10] = {};
	struct file *f;
	__u8 one = 1;

	if ((long)ctx->args[4] < 0)
		return 0;
	f = mf_fd_file(ctx->args[4]);
	if (!f)
		return 0;
	name = BPF_CORE_READ(f, f_path.dentry, d_name.name);
	if (bpf_probe_read_kernel(n, sizeof(n), name))
		return 0;
	if (n[0] != 'l' || n[1] != 'i' || n[2] != 'b' || n[3] != 's' || n[4] != 's' || n[5] != 'l' ||
	    n[6] != '.' || n[7] != 's' || n[8] != 'o')
		return 0;
	if (bpf_map_lookup_elem(&mf_ssl_seen, &tgid) || mf_excluded(tgid))
		return 0;
	bpf_map_update_elem(&mf_ssl_seen, &tgid, &one, BPF_ANY);
	mf_candidate(tgid, 1);
	return 0;
}

SEC("tracepoint/sched/sched_process_fork")
int mf_ssl_fork(struct trace_event_raw_sched_process_fork *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (!bpf_map_lookup_elem(&mf_ssl_pids, &tgid))
		return 0;
	/* Threads fire this too; the loader drops children whose tgid differs. */
	mf_candidate(ctx->child_pid, 2);
	return 0;
}
