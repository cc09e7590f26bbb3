// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * AF_PACKET capture with a TPACKET_V3 ring per interface and a classic BPF
 * filter compiled by libpcap. Only libpcap's compiler is used (through a
 * dead handle); the socket, ring and filter are ours so the loader can put
 * them in its own event loop and count drops itself.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <pcap/pcap.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "mf-loader.h"

#define MAX_SOCKS 64
/* Blocks of 128 KiB, many of them: a block is handed to us when full or after the retire
 * timeout, so on a quiet link each block carries few packets and a ring of a few large blocks
 * runs out within a few timeouts whenever the reader is briefly late. Still larger than the
 * biggest loopback frame (64 KiB + headers). */
#define BLOCK_SIZE (128u << 10)
#define LINKTYPE_ETHERNET 1
#define LINKTYPE_RAW 101

struct psock {
	int fd;
	uint8_t *ring;
	size_t ring_len;
	unsigned nblocks, cur;
	int ifindex; /* 0 = any */
	uint64_t received, dropped, freeze;
};

static struct psock socks[MAX_SOCKS];
static int nsocks;
static uint64_t records;
static unsigned snaplen;

/* ifindex -> name, refreshed on a miss (interfaces come and go). */
static char ifnames[1024][IF_NAMESIZE];

static const char *ifname_of(int ifindex, char *tmp)
{
	if (ifindex > 0 && ifindex < 1024) {
		if (!ifnames[ifindex][0] && !if_indextoname(ifindex, ifnames[ifindex]))
			ifnames[ifindex][0] = 0;
		return ifnames[ifindex];
	}
	if (!if_indextoname(ifindex, tmp))
		tmp[0] = 0;
	return tmp;
}

static int iface_hatype(int fd, const char *name)
{
	struct ifreq ifr = {};

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr))
		return -1;
	return ifr.ifr_hwaddr.sa_family;
}

static bool iface_up(int fd, const char *name)
{
	struct ifreq ifr = {};

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	return ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP);
}

/* libpcap does the compiling; the prefix drops loopback's outgoing copy,
 * because lo hands every packet to packet sockets twice (out and in),
 * the same thing libpcap itself does for live captures on lo. */
static int attach_filter(int fd, int dlt, const char *expr, bool dedupe_lo)
{
	struct sock_filter prefix[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 0, 3),
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, SKF_AD_OFF + SKF_AD_HATYPE),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARPHRD_LOOPBACK, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	unsigned np = dedupe_lo ? sizeof(prefix) / sizeof(prefix[0]) : 0;
	struct bpf_program prog;
	struct sock_fprog fprog;
	struct sock_filter *all;
	pcap_t *p = pcap_open_dead(dlt, snaplen);
	int ret = -1;

	if (!p)
		return -1;
	if (pcap_compile(p, &prog, expr ? expr : "", 1, PCAP_NETMASK_UNKNOWN)) {
		mf_log(MF_LOG_ERROR, "packet filter '%s' does not compile: %s", expr ? expr : "", pcap_geterr(p));
		pcap_close(p);
		return -2;
	}
	all = calloc(np + prog.bf_len, sizeof(*all));
	if (all) {
		memcpy(all, prefix, np * sizeof(*all));
		/* struct bpf_insn and struct sock_filter share one layout. */
		memcpy(all + np, prog.bf_insns, prog.bf_len * sizeof(*all));
		fprog.len = np + prog.bf_len;
		fprog.filter = all;
		ret = setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog));
		if (ret)
			mf_log(MF_LOG_ERROR, "SO_ATTACH_FILTER: %s", strerror(errno));
		free(all);
	}
	pcap_freecode(&prog);
	pcap_close(p);
	return ret;
}

static int open_sock(const char *ifname, int ifindex, int hatype, const struct mf_pkt_opts *o)
{
	bool ether = hatype < 0 || hatype == ARPHRD_ETHER || hatype == ARPHRD_LOOPBACK;
	struct tpacket_req3 req = {};
	struct sockaddr_ll sll = {};
	struct tpacket_stats_v3 st;
	socklen_t sl = sizeof(st);
	int ver = TPACKET_V3, fd;
	struct psock *s;

	if (nsocks >= MAX_SOCKS) {
		mf_log(MF_LOG_WARN, "packets: more than %d interfaces, %s not captured", MAX_SOCKS, ifname);
		return -1;
	}
	/* Protocol 0 receives nothing until bind, so no unfiltered packet
	 * slips in while the filter and ring are being set up. Devices without
	 * a link header use cooked (DGRAM) sockets so the filter sees IP. */
	fd = socket(AF_PACKET, (ether ? SOCK_RAW : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		if (errno == EPERM || errno == EACCES)
			mf_log(MF_LOG_ERROR, "packet capture disabled: AF_PACKET needs root or CAP_NET_RAW "
					     "(run as root, or setcap cap_net_raw+ep on the loader)");
		else
			mf_log(MF_LOG_ERROR, "packet capture disabled: socket(AF_PACKET): %s", strerror(errno));
		return -2;
	}
	if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &ver, sizeof(ver))) {
		mf_log(MF_LOG_ERROR, "packets: TPACKET_V3 unsupported: %s", strerror(errno));
		goto fail;
	}
	if (attach_filter(fd, ether ? DLT_EN10MB : DLT_RAW, o->filter, hatype < 0 || hatype == ARPHRD_LOOPBACK))
		goto fail;

	req.tp_block_size = BLOCK_SIZE;
	req.tp_block_nr = (o->ring_mb ? o->ring_mb : 1) * ((1u << 20) / BLOCK_SIZE);
	req.tp_frame_size = 2048;
	req.tp_frame_nr = req.tp_block_size / req.tp_frame_size * req.tp_block_nr;
	/* A half-empty block is handed over after this long, which bounds the
	 * latency of quiet links. */
	req.tp_retire_blk_tov = 20;
	if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req))) {
		mf_log(MF_LOG_ERROR, "packets: PACKET_RX_RING on %s: %s", ifname, strerror(errno));
		goto fail;
	}
	s = &socks[nsocks];
	s->ring_len = (size_t)req.tp_block_size * req.tp_block_nr;
	s->ring = mmap(NULL, s->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (s->ring == MAP_FAILED) {
		mf_log(MF_LOG_ERROR, "packets: mmap ring on %s: %s", ifname, strerror(errno));
		goto fail;
	}
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		mf_log(MF_LOG_ERROR, "packets: bind %s: %s", ifname, strerror(errno));
		munmap(s->ring, s->ring_len);
		goto fail;
	}
	getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl); /* zero the counters */
	s->fd = fd;
	s->nblocks = req.tp_block_nr;
	s->cur = 0;
	s->ifindex = ifindex;
	nsocks++;
	mf_log(MF_LOG_INFO, "packets: capturing on %s (%s, ring %u MiB)", ifname, ether ? "ethernet" : "raw ip",
	       req.tp_block_nr * BLOCK_SIZE >> 20);
	return 0;
fail:
	close(fd);
	return -1;
}

/* A typo in --filter is a usage error, not a reason to capture nothing:
 * say so before anything is loaded. */
int mf_packets_check_filter(const char *expr, unsigned snap)
{
	pcap_t *p = pcap_open_dead(DLT_EN10MB, snap);
	struct bpf_program prog;
	int ret = 0;

	if (!p)
		return 0;
	if (pcap_compile(p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN)) {
		fprintf(stderr, "metaflow-loader: --filter '%s' does not compile: %s\n", expr, pcap_geterr(p));
		ret = -1;
	} else {
		pcap_freecode(&prog);
	}
	pcap_close(p);
	return ret;
}

int mf_packets_open(const struct mf_pkt_opts *o)
{
	int ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	snaplen = o->snaplen;
	if (o->interfaces && !strcmp(o->interfaces, "any")) {
		open_sock("any", 0, -1, o);
	} else if (o->interfaces) {
		char *list = strdup(o->interfaces), *save = NULL;

		for (char *n = strtok_r(list, ",", &save); n; n = strtok_r(NULL, ",", &save)) {
			int idx = if_nametoindex(n);

			if (!idx) {
				mf_log(MF_LOG_WARN, "packets: no interface named '%s'", n);
				continue;
			}
			if (open_sock(n, idx, iface_hatype(ctl, n), o) == -2)
				break;
		}
		free(list);
	} else {
		struct if_nameindex *ifs = if_nameindex();

		for (struct if_nameindex *i = ifs; i && i->if_index; i++) {
			if (!iface_up(ctl, i->if_name))
				continue;
			if (open_sock(i->if_name, i->if_index, iface_hatype(ctl, i->if_name), o) == -2)
				break;
		}
		if (ifs)
			if_freenameindex(ifs);
	}
	if (ctl >= 0)
		close(ctl);
	return nsocks;
}

int mf_packets_count(void)
{
	return nsocks;
}

int mf_packets_fd(int i)
{
	return socks[i].fd;
}

static void emit(struct tpacket3_hdr *h)
{
	struct sockaddr_ll *sll = (void *)((uint8_t *)h + TPACKET_ALIGN(sizeof(*h)));
	struct mf_packet p = {};
	char tmp[IF_NAMESIZE];
	uint32_t caplen = h->tp_snaplen;

	p.ts_ns = (uint64_t)h->tp_sec * 1000000000ULL + h->tp_nsec;
	p.ifindex = sll->sll_ifindex;
	p.caplen = caplen;
	p.origlen = h->tp_len;
	p.hatype = sll->sll_hatype;
	p.ethertype = ntohs(sll->sll_protocol);
	p.direction = sll->sll_pkttype;
	if (h->tp_mac == h->tp_net)
		p.link_type = LINKTYPE_RAW;
	else if (sll->sll_hatype == ARPHRD_ETHER || sll->sll_hatype == ARPHRD_LOOPBACK)
		p.link_type = LINKTYPE_ETHERNET;
	snprintf(p.ifname, sizeof(p.ifname), "%s", ifname_of(sll->sll_ifindex, tmp));
	mf_out_record(MF_REC_PACKET, &p, sizeof(p), (uint8_t *)h + h->tp_mac, caplen);
	records++;
}

void mf_packets_drain(int i)
{
	struct psock *s = &socks[i];

	for (;;) {
		struct tpacket_block_desc *b = (void *)(s->ring + (size_t)s->cur * BLOCK_SIZE);
		struct tpacket3_hdr *h;

		if (!(__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
			break;
		h = (void *)((uint8_t *)b + b->hdr.bh1.offset_to_first_pkt);
		for (uint32_t n = 0; n < b->hdr.bh1.num_pkts; n++) {
			emit(h);
			h = (void *)((uint8_t *)h + h->tp_next_offset);
		}
		__atomic_store_n(&b->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		s->cur = (s->cur + 1) % s->nblocks;
	}
}

void mf_packets_stats(__u64 *received, __u64 *dropped, __u64 *freeze, __u64 *recs)
{
	*received = *dropped = *freeze = 0;
	for (int i = 0; i < nsocks; i++) {
		struct tpacket_stats_v3 st;
		socklen_t sl = sizeof(st);

		/* The kernel resets these on every read: keep our own totals. */
		if (getsockopt(socks[i].fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl) == 0) {
			socks[i].received += st.tp_packets;
			socks[i].dropped += st.tp_drops;
			socks[i].freeze += st.tp_freeze_q_cnt;
		}
		*received += socks[i].received;
		*dropped += socks[i].dropped;
		*freeze += socks[i].freeze;
	}
	*recs = records;
}

void mf_packets_close(void)
{
	for (int i = 0; i < nsocks; i++) {
		munmap(socks[i].ring, socks[i].ring_len);
		close(socks[i].fd);
	}
	nsocks = 0;
}
