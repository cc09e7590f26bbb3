// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Per-process OpenSSL uprobes. A uprobe on a shared library attached with
 * pid -1 would trap every process on the host that maps it; attaching per
 * pid keeps the cost on the processes we follow. New processes are found
 * three ways: the mmap tracepoint (libssl being loaded), the fork
 * tracepoint (children of traced processes), and a /proc rescan every 2 s
 * for anything those missed (processes older than the loader included).
 *
 * Two links per process through uprobe_multi where the kernel has it
 * (6.6+), else one perf-event link per probe. Either way detaching waits
 * for an RCU-tasks grace period per link (~0.1 s here), so links of dead
 * processes are released by a background thread, never by the main loop.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "mf-loader.h"

#define MAX_PROCS 1024
#define MAX_LIBS 16

/* Index in syms[] is the mf_ssl_fn id minus one. */
static const char *syms[] = { "SSL_read", "SSL_write", "SSL_read_ex", "SSL_write_ex",
			      "SSL_ctrl", "SSL_connect", "SSL_accept", "SSL_do_handshake" };
#define NSYMS (sizeof(syms) / sizeof(syms[0]))

/* Per-function fallback, data probes first: a short-lived client may be
 * half-way through its life while these attach. */
static const struct {
	unsigned fn;
	const char *prog;
	bool ret;
} probes[] = {
	{ MF_FN_WRITE, "mf_ssl_wr_e", false },     { MF_FN_WRITE, "mf_ssl_wr_x", true },
	{ MF_FN_READ, "mf_ssl_rd_e", false },      { MF_FN_READ, "mf_ssl_rd_x", true },
	{ MF_FN_WRITE_EX, "mf_ssl_wrex_e", false }, { MF_FN_WRITE_EX, "mf_ssl_wrex_x", true },
	{ MF_FN_READ_EX, "mf_ssl_rdex_e", false },  { MF_FN_READ_EX, "mf_ssl_rdex_x", true },
	{ MF_FN_CTRL, "mf_ssl_ctrl_e", false },     { MF_FN_HANDSHAKE, "mf_ssl_hs_e", false },
	{ MF_FN_HANDSHAKE, "mf_ssl_hs_x", true },   { MF_FN_CONNECT, "mf_ssl_conn_e", false },
	{ MF_FN_CONNECT, "mf_ssl_conn_x", true },   { MF_FN_ACCEPT, "mf_ssl_acc_e", false },
	{ MF_FN_ACCEPT, "mf_ssl_acc_x", true },
};
#define NPROBES (sizeof(probes) / sizeof(probes[0]))

#ifndef BPF_F_UPROBE_MULTI_RETURN
#define BPF_F_UPROBE_MULTI_RETURN 1
#endif
#define ATTACH_UPROBE_MULTI 48 /* BPF_TRACE_UPROBE_MULTI, newer than the uapi headers here */
#define MAX_REAP_BACKLOG 64

struct lib {
	dev_t dev;
	ino_t ino;
	long off[NSYMS]; /* file offsets, 0 = symbol absent */
};

struct links {
	int fds[2]; /* uprobe_multi links, -1 when unused */
	struct bpf_link *l[NPROBES];
	int n;
};

struct proc {
	uint32_t pid;
	uint64_t start;
	struct links k;
	bool seen;
};

struct neg {
	uint32_t pid;
	uint64_t start;
};

static struct bpf_program *progs[NPROBES];
static int entry_fd = -1, return_fd = -1;
static bool use_multi;
static int pids_fd = -1, seen_fd = -1;
static struct lib libs[MAX_LIBS];
static int nlibs;
static struct proc procs[MAX_PROCS];
static int nprocs;
static uint64_t attach_failures;
static bool initialised;

/* Links waiting to be released by the reaper threads. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct links *q;
	size_t len, cap;
	bool stop;
	pthread_t th[8];
	int nth;
} reap = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void release(struct links *k)
{
	for (int i = 0; i < 2; i++)
		if (k->fds[i] >= 0)
			close(k->fds[i]);
	for (int i = 0; i < k->n; i++)
		bpf_link__destroy(k->l[i]);
}

static void *reaper(void *arg)
{
	for (;;) {
		struct links k;

		pthread_mutex_lock(&reap.mu);
		while (!reap.len && !reap.stop)
			pthread_cond_wait(&reap.cv, &reap.mu);
		if (!reap.len) {
			pthread_mutex_unlock(&reap.mu);
			return NULL;
		}
		k = reap.q[--reap.len];
		pthread_mutex_unlock(&reap.mu);
		release(&k);
	}
}

static void reap_later(struct links *k)
{
	pthread_mutex_lock(&reap.mu);
	if (reap.len == reap.cap) {
		size_t cap = reap.cap ? reap.cap * 2 : 16;
		struct links *q = realloc(reap.q, cap * sizeof(*q));

		if (!q) {
			pthread_mutex_unlock(&reap.mu);
			release(k);
			return;
		}
		reap.q = q;
		reap.cap = cap;
	}
	reap.q[reap.len++] = *k;
	if (!reap.nth && pthread_create(&reap.th[0], NULL, reaper, NULL) == 0)
		reap.nth = 1;
	pthread_cond_signal(&reap.cv);
	pthread_mutex_unlock(&reap.mu);
	if (!reap.nth)
		release(k); /* no thread: do it here, slowly */
}

static size_t reap_backlog(void)
{
	size_t n;

	pthread_mutex_lock(&reap.mu);
	n = reap.len;
	pthread_mutex_unlock(&reap.mu);
	return n;
}

/* Processes already looked at that had no libssl, sorted by pid (readdir
 * of /proc is in pid order), so a rescan reads only one small file per pid. */
static struct neg *neg, *neg_next;
static size_t nneg, nneg_next, neg_cap;

static uint64_t start_time(uint32_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long st = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* comm may hold spaces and parentheses: fields restart after the last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
			 &st) != 1)
		return 0;
	return st;
}

static bool is_process(uint32_t pid)
{
	char path[64], line[256];
	bool ok = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/status", pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned tgid;

		if (sscanf(line, "Tgid: %u", &tgid) == 1) {
			ok = tgid == pid;
			break;
		}
	}
	fclose(f);
	return ok;
}

static bool find_libssl(uint32_t pid, char *out, size_t outlen)
{
	char path[64], *line = NULL;
	size_t cap = 0;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (getline(&line, &cap, f) > 0) {
		char *file = strchr(line, '/'), *base;
		size_t n;

		if (!file)
			continue;
		n = strlen(file);
		while (n && file[n - 1] == '\n')
			file[--n] = 0;
		base = strrchr(file, '/') + 1;
		if (strncmp(base, "libssl.so", 9) || strstr(file, " (deleted)"))
			continue;
		snprintf(out, outlen, "%s", file);
		found = true;
		break;
	}
	free(line);
	fclose(f);
	return found;
}

/* Symbol value -> file offset through the PT_LOAD segment holding it: the
 * uprobe API wants file offsets, and libssl's are not identity-mapped. */
static int elf_offsets(const char *path, long *off)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), found = 0;
	size_t nph = 0;
	Elf_Scn *scn = NULL;
	Elf *e;

	if (fd < 0)
		return -1;
	elf_version(EV_CURRENT);
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (!e || elf_getphdrnum(e, &nph)) {
		if (e)
			elf_end(e);
		close(fd);
		return -1;
	}
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_SYMTAB))
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && sh.sh_entsize && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;
			const char *name;

			if (!gelf_getsym(d, i, &s) || !s.st_value || s.st_shndx == SHN_UNDEF ||
			    (GELF_ST_TYPE(s.st_info) != STT_FUNC && GELF_ST_TYPE(s.st_info) != STT_GNU_IFUNC))
				continue;
			name = elf_strptr(e, sh.sh_link, s.st_name);
			if (!name)
				continue;
			for (size_t k = 0; k < NSYMS; k++) {
				if (off[k] || strcmp(name, syms[k]))
					continue;
				for (size_t p = 0; p < nph; p++) {
					GElf_Phdr ph;

					if (!gelf_getphdr(e, p, &ph) || ph.p_type != PT_LOAD)
						continue;
					if (s.st_value >= ph.p_vaddr && s.st_value < ph.p_vaddr + ph.p_memsz) {
						off[k] = s.st_value - ph.p_vaddr + ph.p_offset;
						found++;
						break;
					}
				}
			}
		}
	}
	elf_end(e);
	close(fd);
	return found;
}

static struct lib *lib_for(const char *path)
{
	struct stat st;
	struct lib *l;

	if (stat(path, &st))
		return NULL;
	for (int i = 0; i < nlibs; i++)
		if (libs[i].dev == st.st_dev && libs[i].ino == st.st_ino)
			return &libs[i];
	l = &libs[nlibs < MAX_LIBS ? nlibs++ : MAX_LIBS - 1];
	memset(l, 0, sizeof(*l));
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	if (elf_offsets(path, l->off) <= 0 || !l->off[MF_FN_READ - 1] || !l->off[MF_FN_WRITE - 1])
		mf_log(MF_LOG_WARN, "ssl: %s has no SSL_read/SSL_write symbols (static or stripped build?)", path);
	return l;
}

static struct proc *find_proc(uint32_t pid)
{
	for (int i = 0; i < nprocs; i++)
		if (procs[i].pid == pid)
			return &procs[i];
	return NULL;
}

static void detach(struct proc *p)
{
	reap_later(&p->k);
	p->k.n = 0;
	p->k.fds[0] = p->k.fds[1] = -1;
	bpf_map_delete_elem(pids_fd, &p->pid);
	bpf_map_delete_elem(seen_fd, &p->pid);
}

/* libbpf 1.1 predates uprobe_multi, so the link is created by hand. */
static int uprobe_multi(int prog_fd, const char *path, const unsigned long *offs, const uint64_t *cookies,
			unsigned cnt, bool ret, uint32_t pid)
{
	struct {
		uint32_t prog_fd, target_fd, attach_type, flags;
		uint64_t path, offsets, ref_ctr_offsets, cookies;
		uint32_t cnt, flags2, pid, pad;
	} a = {
		.prog_fd = prog_fd,
		.attach_type = ATTACH_UPROBE_MULTI,
		.path = (uintptr_t)path,
		.offsets = (uintptr_t)offs,
		.cookies = (uintptr_t)cookies,
		.cnt = cnt,
		.flags2 = ret ? BPF_F_UPROBE_MULTI_RETURN : 0,
		.pid = pid,
	};
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	memcpy(&attr, &a, sizeof(a) < sizeof(attr) ? sizeof(a) : sizeof(attr));
	return syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
}

static int attach_multi(struct links *k, const struct lib *l, const char *path, uint32_t pid)
{
	unsigned long offs[NSYMS];
	uint64_t cookies[NSYMS];
	unsigned n = 0;

	/* SSL_connect/SSL_accept only wrap SSL_do_handshake; every uprobe costs
	 * attach time, which short-lived clients do not leave us. */
	for (unsigned f = 1; f <= NSYMS; f++) {
		if (!l->off[f - 1] || f == MF_FN_CONNECT || f == MF_FN_ACCEPT)
			continue;
		offs[n] = l->off[f - 1];
		cookies[n++] = f;
	}
	k->fds[0] = uprobe_multi(entry_fd, path, offs, cookies, n, false, pid);
	if (k->fds[0] < 0)
		return -errno;
	/* SSL_ctrl only needs its entry; drop it from the return set. */
	n = 0;
	for (unsigned f = 1; f <= NSYMS; f++) {
		if (!l->off[f - 1] || f == MF_FN_CTRL || f == MF_FN_CONNECT || f == MF_FN_ACCEPT)
			continue;
		offs[n] = l->off[f - 1];
		cookies[n++] = f;
	}
	k->fds[1] = uprobe_multi(return_fd, path, offs, cookies, n, true, pid);
	if (k->fds[1] < 0) {
		int err = -errno;

		close(k->fds[0]);
		k->fds[0] = -1;
		return err;
	}
	return 2;
}

static int attach_classic(struct links *k, const struct lib *l, const char *path, uint32_t pid)
{
	for (size_t i = 0; i < NPROBES; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, uo, .retprobe = probes[i].ret);
		struct bpf_link *lk;

		if (!progs[i] || !l->off[probes[i].fn - 1])
			continue;
		lk = bpf_program__attach_uprobe_opts(progs[i], pid, path, l->off[probes[i].fn - 1], &uo);
		if (!lk) {
			if (errno == ESRCH || errno == ENOENT)
				break; /* the process is gone */
			attach_failures++;
			continue;
		}
		k->l[k->n++] = lk;
	}
	return k->n;
}

static bool same_root(uint32_t pid)
{
	static struct stat self;
	static bool have_self;
	char path[64];
	struct stat st;

	if (!have_self)
		have_self = stat("/proc/self/root", &self) == 0;
	snprintf(path, sizeof(path), "/proc/%u/root", pid);
	if (!have_self || stat(path, &st))
		return true;
	return st.st_dev == self.st_dev && st.st_ino == self.st_ino;
}

/* Returns true when pid maps libssl (attached or not), false otherwise. */
static bool try_attach(uint32_t pid, uint64_t start)
{
	char maps_path[4096], full[4200];
	struct proc *p;
	struct lib *l;
	uint8_t one = 1;

	if (mf_pid_excluded(pid) || find_proc(pid))
		return true;
	if (!find_libssl(pid, maps_path, sizeof(maps_path)))
		return false;
	if (nprocs >= MAX_PROCS) {
		attach_failures++;
		return true;
	}
	/* Processes in another root (containers) are reached through their
	 * /proc root link; the plain path otherwise, since that link can fail
	 * to resolve while a process is still starting. */
	if (same_root(pid))
		snprintf(full, sizeof(full), "%s", maps_path);
	else
		snprintf(full, sizeof(full), "/proc/%u/root%s", pid, maps_path);
	l = lib_for(full);
	if (!l)
		return true;
	p = &procs[nprocs];
	memset(p, 0, sizeof(*p));
	p->k.fds[0] = p->k.fds[1] = -1;
	p->pid = pid;
	p->start = start ? start : start_time(pid);
	if (use_multi) {
		int r = attach_multi(&p->k, l, full, pid);

		if (r == -EINVAL || r == -EOPNOTSUPP || r == -ENOSYS || r == -EPERM) {
			mf_log(MF_LOG_INFO, "ssl: uprobe_multi unavailable (%s), attaching per probe", strerror(-r));
			use_multi = false;
		} else if (r < 0) {
			if (r != -ESRCH && r != -ENOENT)
				attach_failures++;
			if (mf_verbose)
				mf_log(MF_LOG_DEBUG, "ssl: pid %u: uprobe_multi: %s", pid, strerror(-r));
			return true;
		}
	}
	if (!use_multi && attach_classic(&p->k, l, full, pid) <= 0) {
		release(&p->k);
		return true;
	}
	nprocs++;
	p->seen = true;
	bpf_map_update_elem(pids_fd, &pid, &one, BPF_ANY);
	mf_log(MF_LOG_INFO, "ssl: uprobes on pid %u (%s)", pid, maps_path);

	return true;
}

void mf_ssl_prepare(struct bpf_object *obj, bool multi)
{
	const char *names[] = { "mf_ssl_entry", "mf_ssl_return" };

	for (int i = 0; i < 2; i++) {
		struct bpf_program *p = bpf_object__find_program_by_name(obj, names[i]);

		if (!p)
			continue;
		if (multi)
			bpf_program__set_expected_attach_type(p, ATTACH_UPROBE_MULTI);
		else
			bpf_program__set_autoload(p, false);
	}
}

int mf_ssl_init(struct bpf_object *obj)
{
	struct bpf_program *e = bpf_object__find_program_by_name(obj, "mf_ssl_entry");
	struct bpf_program *r = bpf_object__find_program_by_name(obj, "mf_ssl_return");
	struct bpf_map *m;

	for (size_t i = 0; i < NPROBES; i++)
		progs[i] = bpf_object__find_program_by_name(obj, probes[i].prog);
	entry_fd = e ? bpf_program__fd(e) : -1;
	return_fd = r ? bpf_program__fd(r) : -1;
	use_multi = entry_fd >= 0 && return_fd >= 0;
	m = bpf_object__find_map_by_name(obj, "mf_ssl_pids");
	pids_fd = m ? bpf_map__fd(m) : -1;
	m = bpf_object__find_map_by_name(obj, "mf_ssl_seen");
	seen_fd = m ? bpf_map__fd(m) : -1;
	initialised = pids_fd >= 0 && seen_fd >= 0;
	return initialised ? 0 : -1;
}

void mf_ssl_candidate(uint32_t pid, uint32_t reason, uint64_t ts_ns)
{
	struct timespec now;

	if (!initialised || mf_exiting)
		return;
	if (reason == 2 && !is_process(pid))
		return;
	/* Short-lived TLS clients faster than the reaper can release would
	 * pile up links; the periodic scan still finds long-lived ones. */
	if (reap_backlog() > MAX_REAP_BACKLOG)
		return;
	if (mf_verbose)
	{
		clock_gettime(CLOCK_MONOTONIC, &now);
		mf_log(MF_LOG_DEBUG, "ssl: candidate pid %u (%s) %.1f ms after the event", pid,
		       reason == 1 ? "mapped libssl" : "forked",
		       ((uint64_t)now.tv_sec * 1000000000ULL + now.tv_nsec - ts_ns) / 1e6);
	}
	/* The event fires at mmap entry; the mapping shows in /proc a moment
	 * later. Wait for it briefly: this is the window before main() runs. */
	for (int i = 0; i < 50; i++) {
		if (try_attach(pid, 0))
			return;
		usleep(200);
	}
	if (mf_verbose)
		mf_log(MF_LOG_DEBUG, "ssl: pid %u: libssl not in its maps", pid);
}

static const struct neg *neg_find(uint32_t pid)
{
	size_t lo = 0, hi = nneg;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (neg[mid].pid == pid)
			return &neg[mid];
		if (neg[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void neg_push(uint32_t pid, uint64_t start)
{
	if (nneg_next == neg_cap) {
		size_t cap = neg_cap ? neg_cap * 2 : 1024;
		struct neg *a = realloc(neg_next, cap * sizeof(*a)), *b;

		if (!a)
			return;
		neg_next = a;
		b = realloc(neg, cap * sizeof(*b));
		if (!b)
			return;
		neg = b;
		neg_cap = cap;
	}
	neg_next[nneg_next++] = (struct neg){ pid, start };
}

void mf_ssl_scan(void)
{
	struct dirent *de;
	DIR *d;

	if (!initialised)
		return;
	d = opendir("/proc");
	if (!d)
		return;
	for (int i = 0; i < nprocs; i++)
		procs[i].seen = false;
	nneg_next = 0;
	while ((de = readdir(d))) {
		char *end;
		unsigned long pid = strtoul(de->d_name, &end, 10);
		const struct neg *n;
		struct proc *p;
		uint64_t st;

		if (*end || !pid)
			continue;
		st = start_time(pid);
		p = find_proc(pid);
		if (p) {
			p->seen = p->start == st;
			continue;
		}
		n = neg_find(pid);
		if (n && n->start == st) {
			neg_push(pid, st);
			continue;
		}
		if (!try_attach(pid, st))
			neg_push(pid, st);
	}
	closedir(d);
	{
		struct neg *t = neg;

		neg = neg_next;
		nneg = nneg_next;
		neg_next = t;
	}
	/* Gone, or the pid now belongs to another process: drop the links. */
	for (int i = 0; i < nprocs;) {
		if (procs[i].seen) {
			i++;
			continue;
		}
		detach(&procs[i]);
		procs[i] = procs[--nprocs];
	}
}

unsigned mf_ssl_procs(void)
{
	return nprocs;
}

uint64_t mf_ssl_attach_failures(void)
{
	return attach_failures;
}

/* Release everything, in parallel: the grace periods of concurrent
 * releases overlap, which keeps the loader's exit short. */
void mf_ssl_close(void)
{
	for (int i = 0; i < nprocs; i++)
		detach(&procs[i]);
	nprocs = 0;
	initialised = false;
	pthread_mutex_lock(&reap.mu);
	reap.stop = true;
	while (reap.nth < (int)(sizeof(reap.th) / sizeof(reap.th[0])) && reap.len > (size_t)reap.nth &&
	       pthread_create(&reap.th[reap.nth], NULL, reaper, NULL) == 0)
		reap.nth++;
	pthread_cond_broadcast(&reap.cv);
	pthread_mutex_unlock(&reap.mu);
	for (int i = 0; i < reap.nth; i++)
		pthread_join(reap.th[i], NULL);
	reap.nth = 0;
	reap.stop = false;
	free(reap.q);
	reap.q = NULL;
	reap.len = reap.cap = 0;
	free(neg);
	free(neg_next);
	neg = neg_next = NULL;
	nneg = nneg_next = neg_cap = 0;
}
