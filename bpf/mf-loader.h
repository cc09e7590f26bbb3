/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Internal interfaces between the loader's source files. */
#ifndef MF_LOADER_H
#define MF_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include "metaflow.h"

struct bpf_object;

extern volatile sig_atomic_t mf_exiting;
extern bool mf_verbose;

/* Output stream (metaflow-loader.c). */
void mf_out_record(uint32_t type, const void *body, uint32_t body_len, const void *extra, uint32_t extra_len);
void mf_out_framed(const void *rec, size_t len);
void mf_out_flush(void);
void mf_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool mf_pid_excluded(uint32_t pid);

/* AF_PACKET capture (mf-packets.c). */
struct mf_pkt_opts {
	const char *interfaces; /* comma list, "any", or NULL for every up interface */
	const char *filter;     /* tcpdump expression or NULL */
	unsigned snaplen;
	unsigned ring_mb;       /* per socket */
};
int mf_packets_check_filter(const char *expr, unsigned snaplen);
int mf_packets_open(const struct mf_pkt_opts *o);
int mf_packets_count(void);
int mf_packets_fd(int i);
void mf_packets_drain(int i);
void mf_packets_stats(__u64 *received, __u64 *dropped, __u64 *freeze, __u64 *records);
void mf_packets_close(void);

/* OpenSSL uprobes (mf-ssl.c). */
void mf_ssl_prepare(struct bpf_object *obj, bool multi);
int mf_ssl_init(struct bpf_object *obj);
void mf_ssl_scan(void);
void mf_ssl_candidate(uint32_t pid, uint32_t reason, uint64_t ts_ns);
unsigned mf_ssl_procs(void);
uint64_t mf_ssl_attach_failures(void);
void mf_ssl_close(void);

#endif
