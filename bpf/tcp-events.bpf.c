// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * TCP health from the stack's own tracepoints: retransmits, resets, state
 * changes and smoothed RTT. These fire mostly in softirq, so the current
 * pid means little; the socket address (sock_id) is what joins them to the
 * data and lifecycle records. The one exception is the change into
 * SYN_SENT, made by connect() itself: its pid and comm are the socket's
 * owner, also for a connect that fails before returning (no connect event).
 */
#include "mf-common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* tcp_probe runs for every ACK processed; one sample per socket per
 * interval is plenty for latency tracking. */
const volatile __u64 mf_cfg_rtt_interval_ns = 1000000000ULL;

#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_FIN_WAIT1 4
#define TCP_CLOSE 7
#define TCP_CLOSE_WAIT 8

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} mf_rtt_last SEC(".maps");

struct mf_tcp_rec {
	struct mf_rec_hdr hdr;
	struct mf_tcp_event ev;
};

static __always_inline bool mf_sock_excluded(const void *sk)
{
	__u64 key = (__u64)sk;
	struct mf_sock_state *st;

	if (!sk)
		return false;
	st = bpf_map_lookup_elem(&mf_socks, &key);
	return st && (st->flags & MF_SF_EXCLUDED);
}

static __always_inline struct mf_tcp_rec *mf_tcp_reserve(__u32 kind, const void *sk)
{
	struct mf_tcp_rec *r = bpf_ringbuf_reserve(&mf_events, sizeof(*r), 0);

	if (!r) {
		mf_count(MF_KS_TCP_RB_DROP);
		return NULL;
	}
	__builtin_memset(&r->ev, 0, sizeof(r->ev));
	r->hdr.type = MF_REC_TCP_EVENT;
	r->hdr.len = sizeof(r->ev);
	r->ev.ts_ns = bpf_ktime_get_ns();
	r->ev.sock_id = (__u64)sk;
	r->ev.pid = bpf_get_current_pid_tgid() >> 32;
	r->ev.kind = kind;
	r->ev.oldstate = -1;
	r->ev.newstate = -1;
	mf_process_comm(r->ev.comm, sizeof(r->ev.comm));
	return r;
}

static __always_inline void mf_tcp_submit(struct mf_tcp_rec *r)
{
	bpf_ringbuf_submit(r, mf_wake_after(sizeof(*r)));
	mf_count(MF_KS_TCP_EMITTED);
}

/* The sockaddr_in/sockaddr_in6 images newer tracepoints store (28 bytes). */
static __always_inline void mf_from_sockaddr(const __u8 *sa, __u8 *addr, __u16 *port, __u8 *family)
{
	__u16 fam = 0, p = 0;

	bpf_probe_read_kernel(&fam, 2, sa);
	bpf_probe_read_kernel(&p, 2, sa + 2);
	*family = fam;
	*port = bpf_ntohs(p);
	if (fam == AF_INET)
		bpf_probe_read_kernel(addr, 4, sa + 4);
	else if (fam == AF_INET6)
		bpf_probe_read_kernel(addr, 16, sa + 8);
}

/* The endpoints every TCP tracepoint carries under the same field names (its context struct
 * differs per tracepoint, hence a macro). */
#define MF_TCP_ENDPOINTS(r, ctx)                                                         \
	do {                                                                             \
		(r)->ev.family = (ctx)->family;                                          \
		(r)->ev.sport = (ctx)->sport;                                            \
		(r)->ev.dport = (ctx)->dport;                                            \
		if ((ctx)->family == AF_INET) {                                          \
			bpf_probe_read_kernel((r)->ev.saddr, 4, (ctx)->saddr);           \
			bpf_probe_read_kernel((r)->ev.daddr, 4, (ctx)->daddr);           \
		} else {                                                                 \
			bpf_probe_read_kernel((r)->ev.saddr, 16, (ctx)->saddr_v6);       \
			bpf_probe_read_kernel((r)->ev.daddr, 16, (ctx)->daddr_v6);       \
		}                                                                        \
	} while (0)

SEC("tracepoint/tcp/tcp_retransmit_skb")
int mf_tcp_retx(struct trace_event_raw_tcp_retransmit_skb *ctx)
{
	const void *sk = ctx->skaddr;
	struct mf_tcp_rec *r;

	if (mf_sock_excluded(sk))
		return 0;
	r = mf_tcp_reserve(MF_TE_RETRANSMIT, sk);
	if (!r)
		return 0;
	MF_TCP_ENDPOINTS(r, ctx);
	r->ev.oldstate = ctx->state;
	/* Kernels that also report failed attempts (err != 0) have the field. */
	if (bpf_core_field_exists(ctx->err))
		r->ev.value = ctx->err;
	if (ctx->skbaddr) {
		/* The kernel's retransmission counters count segments of a GSO skb, not skbs. */
		const struct sk_buff *skb = ctx->skbaddr;
		const struct tcp_skb_cb *cb = (const void *)&skb->cb[0];

		r->ev.segs = BPF_CORE_READ(cb, tcp_gso_segs);
	}
	mf_tcp_submit(r);
	return 0;
}

SEC("tracepoint/tcp/tcp_receive_reset")
int mf_tcp_rst_rx(struct trace_event_raw_tcp_event_sk *ctx)
{
	const void *sk = ctx->skaddr;
	struct mf_tcp_rec *r;

	if (mf_sock_excluded(sk))
		return 0;
	r = mf_tcp_reserve(MF_TE_RECV_RESET, sk);
	if (!r)
		return 0;
	MF_TCP_ENDPOINTS(r, ctx);
	/* SYN_SENT: the connect was refused; otherwise an established connection was reset. */
	if (sk)
		r->ev.oldstate = BPF_CORE_READ((const struct sock *)sk, __sk_common.skc_state);
	mf_tcp_submit(r);
	return 0;
}

SEC("tracepoint/tcp/tcp_send_reset")
int mf_tcp_rst_tx(struct trace_event_raw_tcp_send_reset *ctx)
{
	const void *sk = ctx->skaddr;
	struct mf_tcp_rec *r;

	if (mf_sock_excluded(sk))
		return 0;
	r = mf_tcp_reserve(MF_TE_SEND_RESET, sk);
	if (!r)
		return 0;
	mf_from_sockaddr(ctx->saddr, r->ev.saddr, &r->ev.sport, &r->ev.family);
	mf_from_sockaddr(ctx->daddr, r->ev.daddr, &r->ev.dport, &r->ev.family);
	r->ev.oldstate = sk ? ctx->state : -1;
	r->ev.value = ctx->reason;
	mf_tcp_submit(r);
	return 0;
}

SEC("tracepoint/sock/inet_sock_set_state")
int mf_tcp_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	const void *sk = ctx->skaddr;
	int ns = ctx->newstate;
	struct mf_tcp_rec *r;

	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	/* SYN_SENT (connect, in the owner's context), established and closed
	 * are the connection's life; FIN_WAIT1 vs CLOSE_WAIT says which side
	 * closed first. The rest is noise. */
	if (ns != TCP_SYN_SENT && ns != TCP_ESTABLISHED && ns != TCP_CLOSE && ns != TCP_FIN_WAIT1 &&
	    ns != TCP_CLOSE_WAIT)
		return 0;
	/* SYN_SENT runs in connect(): the caller says whether it is excluded,
	 * not a flag that an excluded process's former socket at this address
	 * may have left in mf_socks (their entries outlive them). */
	if (ns == TCP_SYN_SENT ? mf_excluded(bpf_get_current_pid_tgid() >> 32) : mf_sock_excluded(sk))
		return 0;
	if (ns == TCP_CLOSE) {
		/* The address will be another socket's: its first RTT sample must not wait. */
		__u64 key = (__u64)sk;

		bpf_map_delete_elem(&mf_rtt_last, &key);
	}
	r = mf_tcp_reserve(MF_TE_STATE, sk);
	if (!r)
		return 0;
	MF_TCP_ENDPOINTS(r, ctx);
	r->ev.oldstate = ctx->oldstate;
	r->ev.newstate = ns;
	if (sk && ns != TCP_SYN_SENT) {
		/* Why it closed (ECONNREFUSED, ECONNRESET, ETIMEDOUT; 0 for a FIN or
		 * before the error is set, as for a reset this side sends: that one
		 * follows as a SEND_RESET) and the RTT estimate: at ESTABLISHED, the
		 * handshake's sample. */
		r->ev.value = BPF_CORE_READ((const struct sock *)sk, sk_err);
		r->ev.srtt_us = BPF_CORE_READ((const struct tcp_sock *)sk, srtt_us) >> 3;
	}
	mf_tcp_submit(r);
	return 0;
}

SEC("tracepoint/tcp/tcp_probe")
int mf_tcp_probe(struct trace_event_raw_tcp_probe *ctx)
{
	const void *sk = ctx->skaddr;
	__u64 key = (__u64)sk, now = bpf_ktime_get_ns(), *last;
	struct mf_tcp_rec *r;

	last = bpf_map_lookup_elem(&mf_rtt_last, &key);
	if (last && now - *last < mf_cfg_rtt_interval_ns) {
		mf_count(MF_KS_TCP_RTT_THROTTLED);
		return 0;
	}
	if (mf_sock_excluded(sk))
		return 0;
	bpf_map_update_elem(&mf_rtt_last, &key, &now, BPF_ANY);
	r = mf_tcp_reserve(MF_TE_RTT, sk);
	if (!r)
		return 0;
	mf_from_sockaddr(ctx->saddr, r->ev.saddr, &r->ev.sport, &r->ev.family);
	mf_from_sockaddr(ctx->daddr, r->ev.daddr, &r->ev.dport, &r->ev.family);
	r->ev.srtt_us = ctx->srtt;
	r->ev.snd_cwnd = ctx->snd_cwnd;
	mf_tcp_submit(r);
	return 0;
}
