/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The DNS proxy (see dns.h and the top of main.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guest/agent/agent.h"
#include "guest/agent/channel.h"
#include "guest/agent/dns.h"
#include "guest/agent/util.h"

/* The size of a DNS header (the ID is its first 2 bytes). */
#define DNS_HDR_LEN 12
/* Messages the DNS proxy logs at most (the console is slow; a client can make many). */
#define DNS_LOG_MAX 8

int dns_proxy_start(struct agent *a, const struct run_config *run)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(53), .sin_addr = run->dns_proxy };
	char addr[INET_ADDRSTRLEN];
	int fd, e;

	if (!run->has_dns_proxy)
		return 0;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd >= 0 && bind(fd, (const struct sockaddr *)&sin, sizeof(sin)) == 0) {
		a->dns_fd = fd;
		return 0;
	}
	e = errno;
	if (fd >= 0)
		close(fd);
	inet_ntop(AF_INET, &run->dns_proxy, addr, sizeof(addr));
	set_error(&a->procs[0], RV_EXIT_SETUP_FAILED, "network: DNS proxy on %s:53: %s", addr, strerror(e));
	return -e;
}

static void dns_log(struct agent *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void dns_log(struct agent *a, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (a->dns_logged >= DNS_LOG_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	logmsg("DNS proxy: %s%s", msg, ++a->dns_logged == DNS_LOG_MAX ? " (no more DNS messages)" : "");
}

/*
 * The ID a query in slot @slot goes to the host with: the slot in the low bits and a new
 * generation above, so that a late answer to the slot's previous query is not taken for this
 * one. The generation is random: Docker's resolver passes the ID on to the upstream server,
 * and an ID that could be guessed would make forged answers easier to get accepted.
 */
static uint16_t dns_new_id(const struct dns_query *q, uint16_t slot)
{
	uint16_t gen, old = q->id / DNS_SLOTS;

	if (getrandom(&gen, sizeof(gen), GRND_NONBLOCK) != sizeof(gen))
		gen = (uint16_t)(old + 1);
	gen %= 65536 / DNS_SLOTS;
	if (gen == old)
		gen = (uint16_t)((gen + 1) % (65536 / DNS_SLOTS));
	return (uint16_t)(gen * DNS_SLOTS + slot);
}

void relay_dns_queries(struct agent *a)
{
	uint8_t buf[RV_DNS_MAX + 1];
	int k;

	/* A bounded batch, so a flood of queries cannot starve the rest of the loop. */
	for (k = 0; k < 16; k++) {
		struct sockaddr_in from;
		socklen_t fromlen = sizeof(from);
		struct dns_query *q;
		uint16_t id;
		/* MSG_TRUNC: the datagram's real length, to drop one too long. */
		ssize_t n = recvfrom(a->dns_fd, buf, sizeof(buf), MSG_TRUNC, (struct sockaddr *)&from, &fromlen);

		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				dns_log(a, "receiving a query, ignoring: %m");
			return;
		}
		if (n < DNS_HDR_LEN || n > RV_DNS_MAX || fromlen != sizeof(from) || from.sin_family != AF_INET)
			continue;
		q = &a->dns[a->dns_next++ % DNS_SLOTS];
		id = dns_new_id(q, (uint16_t)(q - a->dns));
		*q = (struct dns_query){
			.used = true, .id = id, .client_id = (uint16_t)(buf[0] << 8 | buf[1]), .client = from
		};
		buf[0] = (uint8_t)(id >> 8);
		buf[1] = (uint8_t)id;
		if (rv_frame_raw(&a->tx, RV_MSG_DNS, 0, buf, (size_t)n) < 0)
			channel_failed(-ENOMEM);
	}
}

void handle_dns(struct agent *a, const struct rv_frame *f)
{
	uint8_t buf[RV_DNS_MAX];
	struct dns_query *q;
	uint16_t id;

	if (a->dns_fd < 0 || f->proc != 0) {
		log_ignored(a, f);
		return;
	}
	if (f->len < DNS_HDR_LEN || f->len > RV_DNS_MAX) {
		dns_log(a, "ignoring an answer of %u bytes", f->len);
		return;
	}
	id = (uint16_t)(f->payload[0] << 8 | f->payload[1]);
	q = &a->dns[id % DNS_SLOTS];
	/* Unknown, answered already, or stale: its slot has gone to a newer query. */
	if (!q->used || q->id != id)
		return;
	q->used = false;
	memcpy(buf, f->payload, f->len);
	buf[0] = (uint8_t)(q->client_id >> 8);
	buf[1] = (uint8_t)q->client_id;
	if (sendto(a->dns_fd, buf, f->len, MSG_DONTWAIT, (const struct sockaddr *)&q->client, sizeof(q->client)) < 0)
		dns_log(a, "answering port %u, ignoring: %m", ntohs(q->client.sin_port));
}
