// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * metaflow-loader: loads the MetaFlow BPF programs, opens the AF_PACKET
 * capture, and streams framed records (see metaflow.h / README.md) to
 * stdout for the agent.
 *
 * Probes are attached through links owned by this process and never
 * pinned, so whatever way the process ends the kernel detaches them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "mf-loader.h"
#include "socket-data.skel.h"
#include "socket-lifecycle.skel.h"
#include "tcp-events.skel.h"
#include "ssl-uprobes.skel.h"

_Static_assert(sizeof(struct mf_rec_hdr) == 8, "wire");
_Static_assert(sizeof(struct mf_data) == 128, "wire");
_Static_assert(sizeof(struct mf_sock_event) == 112, "wire");
_Static_assert(sizeof(struct mf_tcp_event) == 104, "wire");
_Static_assert(sizeof(struct mf_ssl_handshake) == 176, "wire");
_Static_assert(sizeof(struct mf_packet) == 48, "wire");
_Static_assert(sizeof(struct mf_hello) == 144, "wire");
_Static_assert(sizeof(struct mf_log) == 8, "wire");
_Static_assert(sizeof(struct mf_stats) == 184, "wire");

#define BPF_FS_MAGIC_NUM 0xcafe4a11
#define TRACEFS_MAGIC_NUM 0x74726163
#define MAX_EXCLUDED 64

volatile sig_atomic_t mf_exiting;
bool mf_verbose;

static struct {
	bool ebpf, packets, ssl;
	unsigned payload;
	unsigned ringbuf_mb;
	struct mf_pkt_opts pkt;
	uint32_t excluded[MAX_EXCLUDED];
	unsigned n_excluded;
} cfg = {
	.ebpf = true,
	.packets = true,
	.ssl = true,
	.payload = MF_DEFAULT_PAYLOAD,
	.ringbuf_mb = 16,
	.pkt = { .snaplen = 65535, .ring_mb = 8 },
};

/* ---- output ------------------------------------------------------------ */

/* Buffered so a burst of small records costs one write; flushed at least
 * every 100 ms by the main loop's timer. */
static struct {
	char *buf;
	size_t len, cap;
	bool broken;
	uint64_t records, bytes;
} out = { .cap = 1 << 20 };

static void out_write_all(const void *p, size_t n)
{
	const char *c = p;

	while (n && !out.broken) {
		ssize_t w = write(STDOUT_FILENO, c, n);

		if (w < 0) {
			if (errno == EINTR && !mf_exiting)
				continue;
			if (errno == EAGAIN) {
				usleep(1000);
				continue;
			}
			/* EPIPE: the agent is gone, nothing left to capture for. */
			out.broken = true;
			mf_exiting = 1;
			return;
		}
		c += w;
		n -= w;
	}
}

void mf_out_flush(void)
{
	if (out.len)
		out_write_all(out.buf, out.len);
	out.len = 0;
}

static void out_append(const void *p, size_t n)
{
	if (out.len + n > out.cap)
		mf_out_flush();
	if (n > out.cap) {
		out_write_all(p, n);
		return;
	}
	memcpy(out.buf + out.len, p, n);
	out.len += n;
}

void mf_out_framed(const void *rec, size_t len)
{
	if (out.broken)
		return;
	out_append(rec, len);
	out.records++;
	out.bytes += len;
}

void mf_out_record(uint32_t type, const void *body, uint32_t body_len, const void *extra, uint32_t extra_len)
{
	struct mf_rec_hdr h = { .type = type, .len = body_len + extra_len };

	if (out.broken)
		return;
	out_append(&h, sizeof(h));
	out_append(body, body_len);
	if (extra_len)
		out_append(extra, extra_len);
	out.records++;
	out.bytes += sizeof(h) + h.len;
}

void mf_log(int level, const char *fmt, ...)
{
	struct mf_log l = { .level = level };
	char text[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(text))
		n = sizeof(text) - 1;
	l.text_len = n;
	mf_out_record(MF_REC_LOG, &l, sizeof(l), text, n);
	if (mf_verbose || level >= MF_LOG_WARN)
		fprintf(stderr, "metaflow-loader: %s\n", text);
}

/* ---- clocks ------------------------------------------------------------ */

static uint64_t ts_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* bpf_ktime_get_ns() is CLOCK_MONOTONIC; take the tightest of a few
 * realtime/monotonic pairs so the offset error stays in the microseconds. */
static uint64_t boot_offset_ns(void)
{
	uint64_t best = 0, best_gap = UINT64_MAX;

	for (int i = 0; i < 5; i++) {
		uint64_t m1 = ts_ns(CLOCK_MONOTONIC), r = ts_ns(CLOCK_REALTIME), m2 = ts_ns(CLOCK_MONOTONIC);

		if (m2 - m1 < best_gap) {
			best_gap = m2 - m1;
			best = r - (m1 + (m2 - m1) / 2);
		}
	}
	return best;
}

/* ---- options ----------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: metaflow-loader [options] > pipe\n"
		"  --payload-bytes N   bytes of payload per data record (default %u, max %u)\n"
		"  --exclude-pid PID   never capture this process (repeatable; own and parent pid always)\n"
		"  --interfaces LIST   comma-separated interfaces, or 'any' (default: every interface that is up)\n"
		"  --filter EXPR       tcpdump-style capture filter for packets\n"
		"  --snaplen N         bytes kept per packet (default 65535, 64..65535)\n"
		"  --ring-mb N         packet ring per interface in MiB (default 8)\n"
		"  --ringbuf-mb N      BPF ring buffer in MiB, power of two (default 16)\n"
		"  --ssl / --no-ssl    OpenSSL uprobes (default on)\n"
		"  --no-ebpf           packets only\n"
		"  --no-packets        eBPF only\n"
		"  -v, --verbose       log records and libbpf messages also on stderr\n",
		MF_DEFAULT_PAYLOAD, MF_MAX_PAYLOAD);
}

static unsigned parse_uint(const char *s, const char *what, unsigned lo, unsigned hi)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < lo || v > hi) {
		fprintf(stderr, "metaflow-loader: %s must be a number in %u..%u, got '%s'\n", what, lo, hi, s);
		exit(2);
	}
	return v;
}

static void add_excluded(uint32_t pid)
{
	if (!pid)
		return;
	for (unsigned i = 0; i < cfg.n_excluded; i++)
		if (cfg.excluded[i] == pid)
			return;
	if (cfg.n_excluded < MAX_EXCLUDED)
		cfg.excluded[cfg.n_excluded++] = pid;
}

bool mf_pid_excluded(uint32_t pid)
{
	for (unsigned i = 0; i < cfg.n_excluded; i++)
		if (cfg.excluded[i] == pid)
			return true;
	return false;
}

static void parse_args(int argc, char **argv)
{
	enum { O_NO_EBPF = 256, O_NO_PACKETS, O_PAYLOAD, O_EXCLUDE, O_IFACES, O_FILTER, O_SSL, O_NO_SSL,
	       O_SNAPLEN, O_RING_MB, O_RINGBUF_MB };
	static const struct option opts[] = {
		{ "no-ebpf", no_argument, NULL, O_NO_EBPF },
		{ "no-packets", no_argument, NULL, O_NO_PACKETS },
		{ "payload-bytes", required_argument, NULL, O_PAYLOAD },
		{ "exclude-pid", required_argument, NULL, O_EXCLUDE },
		{ "interfaces", required_argument, NULL, O_IFACES },
		{ "filter", required_argument, NULL, O_FILTER },
		{ "ssl", no_argument, NULL, O_SSL },
		{ "no-ssl", no_argument, NULL, O_NO_SSL },
		{ "snaplen", required_argument, NULL, O_SNAPLEN },
		{ "ring-mb", required_argument, NULL, O_RING_MB },
		{ "ringbuf-mb", required_argument, NULL, O_RINGBUF_MB },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case O_NO_EBPF: cfg.ebpf = false; break;
		case O_NO_PACKETS: cfg.packets = false; break;
		case O_PAYLOAD: cfg.payload = parse_uint(optarg, "--payload-bytes", 0, MF_MAX_PAYLOAD); break;
		case O_EXCLUDE: add_excluded(parse_uint(optarg, "--exclude-pid", 1, 0x7fffffff)); break;
		case O_IFACES: cfg.pkt.interfaces = optarg; break;
		case O_FILTER: cfg.pkt.filter = optarg; break;
		case O_SSL: cfg.ssl = true; break;
		case O_NO_SSL: cfg.ssl = false; break;
		case O_SNAPLEN: cfg.pkt.snaplen = parse_uint(optarg, "--snaplen", 64, 65535); break;
		case O_RING_MB: cfg.pkt.ring_mb = parse_uint(optarg, "--ring-mb", 1, 1024); break;
		case O_RINGBUF_MB: cfg.ringbuf_mb = parse_uint(optarg, "--ringbuf-mb", 1, 1024); break;
		case 'v': mf_verbose = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind < argc) {
		usage(stderr);
		exit(2);
	}
	if (cfg.ringbuf_mb & (cfg.ringbuf_mb - 1)) {
		fprintf(stderr, "metaflow-loader: --ringbuf-mb must be a power of two\n");
		exit(2);
	}
}

/* ---- eBPF -------------------------------------------------------------- */

static char libbpf_last[512];

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (mf_verbose && (level != LIBBPF_DEBUG || getenv("MF_LIBBPF_DEBUG")))
		return vfprintf(stderr, fmt, ap);
	if (level == LIBBPF_WARN) {
		/* Keep the last warning line for the one-line failure report. */
		char line[512];
		size_t n;

		vsnprintf(line, sizeof(line), fmt, ap);
		n = strlen(line);
		while (n && line[n - 1] == '\n')
			line[--n] = 0;
		if (n)
			snprintf(libbpf_last, sizeof(libbpf_last), "%s", line);
	}
	return 0;
}

static bool has_cap(int cap)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {};

	if (syscall(SYS_capget, &h, d))
		return false;
	return d[cap / 32].effective & (1u << (cap % 32));
}

static bool fs_is(const char *path, long magic)
{
	struct statfs s;

	return statfs(path, &s) == 0 && s.f_type == magic;
}

/* Returns NULL when eBPF can load, else the one line saying what is missing. */
static const char *ebpf_missing(void)
{
	static char why[256];

	if (!has_cap(CAP_SYS_ADMIN) && !(has_cap(CAP_BPF) && has_cap(CAP_PERFMON)))
		return "needs root or CAP_BPF+CAP_PERFMON (run as root, or setcap cap_bpf,cap_perfmon,cap_net_raw+ep on the loader)";
	if (access("/sys/kernel/btf/vmlinux", R_OK))
		return "kernel BTF missing (/sys/kernel/btf/vmlinux): needs a kernel built with CONFIG_DEBUG_INFO_BTF=y";
	if (access("/sys/kernel/tracing/events", F_OK) && access("/sys/kernel/debug/tracing/events", F_OK)) {
		if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL)) {
			snprintf(why, sizeof(why),
				 "tracefs is not mounted and mounting it failed (%s): run 'mount -t tracefs nodev /sys/kernel/tracing'",
				 strerror(errno));
			return why;
		}
		mf_log(MF_LOG_INFO, "mounted tracefs on /sys/kernel/tracing");
	}
	/* Nothing is pinned, but tools (bpftool) and other agents expect it. */
	if (!fs_is("/sys/fs/bpf", BPF_FS_MAGIC_NUM)) {
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, NULL))
			mf_log(MF_LOG_INFO, "bpffs not mounted on /sys/fs/bpf and mount failed (%s); not needed, continuing",
			       strerror(errno));
		else
			mf_log(MF_LOG_INFO, "mounted bpffs on /sys/fs/bpf");
	}
	return NULL;
}

/* Maps every object shares; the first object to load owns them. */
static const char *shared_names[] = { "mf_events", "mf_stats", "mf_excl", "mf_socks", "mf_ssl_ctx" };
#define N_SHARED (sizeof(shared_names) / sizeof(shared_names[0]))
static int shared_fd[N_SHARED] = { -1, -1, -1, -1, -1 };

#define MAX_LINKS 64
static struct bpf_link *links[MAX_LINKS];
static int n_links;

static struct socket_data *sd;
static struct socket_lifecycle *sl;
static struct tcp_events *te;
static struct ssl_uprobes *su;
static struct ring_buffer *rb;
static uint32_t active;
static bool load_quiet;

/* Each tracepoint link waits out an RCU-tasks grace period when it goes
 * (~0.1 s here); releasing them side by side lets those waits overlap, so
 * the loader exits in a fraction of a second instead of several. */
static void *destroy_slice(void *arg)
{
	struct bpf_link **l = arg;

	for (; *l; l++)
		bpf_link__destroy(*l);
	return NULL;
}

static void destroy_links(void)
{
	enum { THREADS = 8 };
	struct bpf_link *slice[THREADS][MAX_LINKS + 1];
	pthread_t th[THREADS];
	int started[THREADS] = {};

	memset(slice, 0, sizeof(slice));
	for (int i = 0; i < n_links; i++)
		slice[i % THREADS][i / THREADS] = links[i];
	for (int t = 0; t < THREADS; t++)
		if (slice[t][0])
			started[t] = pthread_create(&th[t], NULL, destroy_slice, slice[t]) == 0;
	for (int t = 0; t < THREADS; t++) {
		if (started[t])
			pthread_join(th[t], NULL);
		else if (slice[t][0])
			destroy_slice(slice[t]);
	}
	n_links = 0;
}

static int shared_index(const char *name)
{
	for (size_t i = 0; i < N_SHARED; i++)
		if (!strcmp(name, shared_names[i]))
			return i;
	return -1;
}

static int prepare_obj(struct bpf_object *obj)
{
	struct bpf_map *m;
	int ncpu = libbpf_num_possible_cpus();

	bpf_object__for_each_map(m, obj) {
		const char *name = bpf_map__name(m);
		int i = shared_index(name);

		if (i >= 0 && shared_fd[i] >= 0) {
			if (bpf_map__reuse_fd(m, shared_fd[i]))
				return -1;
		} else if (!strcmp(name, "mf_events")) {
			bpf_map__set_max_entries(m, cfg.ringbuf_mb << 20);
		} else if (!strcmp(name, "mf_data_scr") || !strcmp(name, "mf_ssl_scr")) {
			if (ncpu > 0)
				bpf_map__set_max_entries(m, ncpu);
		}
	}
	return 0;
}

static void remember_shared(struct bpf_object *obj)
{
	struct bpf_map *m;

	bpf_object__for_each_map(m, obj) {
		int i = shared_index(bpf_map__name(m));

		if (i >= 0 && shared_fd[i] < 0)
			shared_fd[i] = fcntl(bpf_map__fd(m), F_DUPFD_CLOEXEC, 3);
	}
}

/* Auto-attach only the tracepoints; uprobes are attached per process. */
static int attach_tracepoints(struct bpf_object *obj, const char *family)
{
	struct bpf_program *p;
	int attached = 0, failed = 0;

	bpf_object__for_each_program(p, obj) {
		struct bpf_link *l;

		if (strncmp(bpf_program__section_name(p), "tracepoint/", 11))
			continue;
		l = bpf_program__attach(p);
		if (!l || n_links >= MAX_LINKS) {
			mf_log(MF_LOG_WARN, "%s: cannot attach %s (%s): %s", family, bpf_program__name(p),
			       bpf_program__section_name(p), strerror(errno));
			bpf_link__destroy(l);
			failed++;
			continue;
		}
		links[n_links++] = l;
		attached++;
	}
	return failed && !attached ? -1 : 0;
}

/* Opens, configures, loads and attaches one skeleton through its object. */
#define LOAD_FAMILY(skel, type, family, flag, setup)                                                    \
	do {                                                                                              \
		skel = type##__open();                                                                    \
		if (!skel) {                                                                              \
			mf_log(MF_LOG_WARN, "%s: open failed: %s", family, strerror(errno));              \
			break;                                                                            \
		}                                                                                         \
		setup;                                                                                    \
		if (prepare_obj(skel->obj) || type##__load(skel)) {                                       \
			mf_log(load_quiet ? MF_LOG_DEBUG : MF_LOG_WARN, "%s: load failed: %s%s%s",       \
			       family, strerror(errno),                                                   \
			       libbpf_last[0] ? ": " : "", libbpf_last);                                  \
			type##__destroy(skel);                                                            \
			skel = NULL;                                                                      \
			break;                                                                            \
		}                                                                                         \
		remember_shared(skel->obj);                                                               \
		if (attach_tracepoints(skel->obj, family) == 0)                                           \
			active |= flag;                                                                   \
	} while (0)

static int handle_event(void *ctx, void *data, size_t size)
{
	const struct mf_rec_hdr *h = data;

	if (size < sizeof(*h) || h->len > size - sizeof(*h))
		return 0;
	if (h->type == MF_INT_SSL_CANDIDATE) {
		const struct mf_ssl_candidate *c = (const void *)(h + 1);

		if (h->len >= sizeof(*c))
			mf_ssl_candidate(c->pid, c->reason, c->ts_ns);
		return 0;
	}
	mf_out_framed(data, sizeof(*h) + h->len);
	return 0;
}

static int ebpf_start(void)
{
	const char *why = ebpf_missing();
	int ev_idx = shared_index("mf_events"), ex_idx = shared_index("mf_excl");
	uint8_t one = 1;

	if (why) {
		mf_log(MF_LOG_ERROR, "eBPF disabled: %s", why);
		return -1;
	}
	libbpf_set_print(libbpf_print);

	LOAD_FAMILY(sd, socket_data, "socket-data", MF_ACT_SOCK_DATA,
		    sd->rodata->mf_cfg_payload = cfg.payload);
	LOAD_FAMILY(sl, socket_lifecycle, "socket-lifecycle", MF_ACT_LIFECYCLE, (void)0);
	LOAD_FAMILY(te, tcp_events, "tcp-events", MF_ACT_TCP, (void)0);
	if (cfg.ssl) {
		/* uprobe_multi programs first; kernels before 6.6 reject them.
		 * MF_NO_UPROBE_MULTI=1 forces the per-probe mode (for tests). */
		load_quiet = true;
		if (!getenv("MF_NO_UPROBE_MULTI"))
			LOAD_FAMILY(su, ssl_uprobes, "ssl-uprobes", MF_ACT_SSL,
				    (su->rodata->mf_cfg_payload = cfg.payload, mf_ssl_prepare(su->obj, true)));
		load_quiet = false;
		libbpf_last[0] = 0;
		if (!su)
			LOAD_FAMILY(su, ssl_uprobes, "ssl-uprobes", MF_ACT_SSL,
				    (su->rodata->mf_cfg_payload = cfg.payload, mf_ssl_prepare(su->obj, false)));
	}

	if (shared_fd[ev_idx] < 0) {
		mf_log(MF_LOG_ERROR, "eBPF disabled: no BPF object could be loaded%s%s",
		       libbpf_last[0] ? ": " : "", libbpf_last);
		return -1;
	}
	for (unsigned i = 0; i < cfg.n_excluded; i++)
		bpf_map_update_elem(shared_fd[ex_idx], &cfg.excluded[i], &one, BPF_ANY);
	rb = ring_buffer__new(shared_fd[ev_idx], handle_event, NULL, NULL);
	if (!rb) {
		mf_log(MF_LOG_ERROR, "eBPF disabled: ring buffer: %s", strerror(errno));
		return -1;
	}
	if (su && (active & MF_ACT_SSL)) {
		if (mf_ssl_init(su->obj) == 0)
			mf_ssl_scan();
		else
			active &= ~MF_ACT_SSL;
	}
	return 0;
}

static void ebpf_stop(void)
{
	mf_ssl_close();
	destroy_links();
	ring_buffer__free(rb);
	rb = NULL;
	ssl_uprobes__destroy(su);
	tcp_events__destroy(te);
	socket_lifecycle__destroy(sl);
	socket_data__destroy(sd);
	su = NULL, te = NULL, sl = NULL, sd = NULL;
	for (size_t i = 0; i < N_SHARED; i++) {
		if (shared_fd[i] >= 0)
			close(shared_fd[i]);
		shared_fd[i] = -1;
	}
}

/* ---- stats ------------------------------------------------------------- */

static void write_stats(void)
{
	struct mf_stats s = {};
	int fd = shared_fd[shared_index("mf_stats")];

	s.wall_ns = ts_ns(CLOCK_REALTIME);
	s.boot_offset_ns = boot_offset_ns();
	s.active = active;
	s.ssl_procs = mf_ssl_procs();
	if (fd >= 0) {
		int ncpu = libbpf_num_possible_cpus();
		uint64_t vals[ncpu > 0 ? ncpu : 1];

		for (uint32_t k = 0; k < MF_KS_MAX && ncpu > 0; k++) {
			if (bpf_map_lookup_elem(fd, &k, vals))
				continue;
			for (int c = 0; c < ncpu; c++)
				s.k[k] += vals[c];
		}
	}
	mf_packets_stats(&s.pkt_received, &s.pkt_dropped, &s.pkt_freeze, &s.pkt_records);
	s.records_out = out.records;
	s.bytes_out = out.bytes;
	s.ssl_attach_fail = mf_ssl_attach_failures();
	mf_out_record(MF_REC_STATS, &s, sizeof(s), NULL, 0);
}

/* ---- main -------------------------------------------------------------- */

static void on_signal(int sig)
{
	mf_exiting = 1;
}

static void write_hello(void)
{
	struct mf_hello h = {};
	struct utsname u;

	h.version = MF_WIRE_VERSION;
	h.payload_bytes = cfg.payload;
	h.boot_offset_ns = boot_offset_ns();
	h.start_wall_ns = ts_ns(CLOCK_REALTIME);
	h.loader_pid = getpid();
	h.snaplen = cfg.pkt.snaplen;
	h.flags = (cfg.ebpf ? MF_HF_EBPF : 0) | (cfg.packets ? MF_HF_PACKETS : 0) |
		  (cfg.ebpf && cfg.ssl ? MF_HF_SSL : 0);
	h.max_payload = MF_MAX_PAYLOAD;
	h.n_excluded = cfg.n_excluded;
	for (unsigned i = 0; i < cfg.n_excluded && i < 8; i++)
		h.excluded[i] = cfg.excluded[i];
	if (uname(&u) == 0)
		memcpy(h.kernel_release, u.release, strnlen(u.release, sizeof(h.kernel_release) - 1));
	mf_out_record(MF_REC_HELLO, &h, sizeof(h), NULL, 0);
}

static void raise_nofile(void)
{
	struct rlimit r;

	/* Each traced libssl process holds ~15 perf-event fds. */
	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct epoll_event ev, evs[32];
	/* 10 ms: the BPF programs wake us only when the ring fills past a mark (mf_wake_*), so this
	 * timer is what drains it and flushes our output in normal operation. */
	struct itimerspec its = { .it_interval = { 0, 10000000 }, .it_value = { 0, 10000000 } };
	int epfd, tfd, npk;
	unsigned tick = 0, last_stats = 0, last_scan = 0;
	bool ebpf_ok = false, pkt_ok = false;

	parse_args(argc, argv);
	if (cfg.packets && cfg.pkt.filter && mf_packets_check_filter(cfg.pkt.filter, cfg.pkt.snaplen))
		return 2;
	if (isatty(STDOUT_FILENO)) {
		fprintf(stderr, "metaflow-loader: stdout is a terminal; pipe it to the agent or redirect it to a file\n");
		return 2;
	}
	/* No SA_RESTART: a blocked write or epoll_wait must return on a signal. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* The agent is the parent: follow it out even if it dies by SIGKILL. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		mf_exiting = 1;
	add_excluded(getpid());
	add_excluded(getppid());
	raise_nofile();

	out.buf = malloc(out.cap);
	if (!out.buf)
		return 1;
	write_hello();

	if (cfg.ebpf) {
		ebpf_ok = ebpf_start() == 0;
		if (!ebpf_ok)
			ebpf_stop();
	}
	if (cfg.packets) {
		pkt_ok = mf_packets_open(&cfg.pkt) > 0;
		if (pkt_ok)
			active |= MF_ACT_PACKETS;
	}
	if (!ebpf_ok && !pkt_ok) {
		mf_log(MF_LOG_ERROR, "nothing to capture: %s",
		       cfg.ebpf && cfg.packets ? "eBPF and packet capture are both unavailable"
		       : cfg.ebpf ? "eBPF is unavailable and packets are off (--no-packets)"
		       : "packet capture is unavailable and eBPF is off (--no-ebpf)");
		mf_out_flush();
		return 1;
	}
	if (cfg.ebpf && !ebpf_ok)
		mf_log(MF_LOG_WARN, "continuing with packet capture only");
	if (cfg.packets && !pkt_ok)
		mf_log(MF_LOG_WARN, "continuing with eBPF capture only");

	epfd = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	timerfd_settime(tfd, 0, &its, NULL);
	ev.events = EPOLLIN;
	ev.data.u32 = 0;
	epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &ev);
	if (rb) {
		ev.data.u32 = 1;
		epoll_ctl(epfd, EPOLL_CTL_ADD, ring_buffer__epoll_fd(rb), &ev);
	}
	npk = mf_packets_count();
	for (int i = 0; i < npk; i++) {
		ev.data.u32 = 100 + i;
		epoll_ctl(epfd, EPOLL_CTL_ADD, mf_packets_fd(i), &ev);
	}
	/* A pipe's write end reports EPOLLERR once the reader is gone, which
	 * catches the agent's exit even while nothing is being captured. */
	ev.events = 0;
	ev.data.u32 = 2;
	epoll_ctl(epfd, EPOLL_CTL_ADD, STDOUT_FILENO, &ev);

	mf_log(MF_LOG_INFO, "ready: active=0x%x payload=%u excluded=%u", active, cfg.payload, cfg.n_excluded);
	write_stats();
	mf_out_flush();

	while (!mf_exiting) {
		int n = epoll_wait(epfd, evs, 32, 1000);

		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			uint32_t tag = evs[i].data.u32;

			if (tag == 0) {
				uint64_t exp;

				if (read(tfd, &exp, sizeof(exp)) > 0)
					tick += exp;
				mf_out_flush();
			} else if (tag == 2) {
				mf_exiting = 1;
			} else if (tag >= 100) {
				mf_packets_drain(tag - 100);
			}
		}
		if (rb)
			ring_buffer__consume(rb);
		if (tick - last_stats >= 100) {
			last_stats = tick;
			write_stats();
		}
		if ((active & MF_ACT_SSL) && tick - last_scan >= 200) {
			last_scan = tick;
			mf_ssl_scan();
		}
	}

	/* Detach first so nothing new arrives, then drain what is queued. */
	mf_ssl_close();
	destroy_links();
	if (rb)
		ring_buffer__consume(rb);
	for (int i = 0; i < npk; i++)
		mf_packets_drain(i);
	write_stats();
	mf_log(MF_LOG_INFO, "exiting");
	mf_out_flush();
	ebpf_stop();
	mf_packets_close();
	close(tfd);
	close(epfd);
	free(out.buf);
	return 0;
}
