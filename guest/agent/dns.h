/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The DNS proxy: queries on the container's loopback resolver address relayed to the host. */
#ifndef RUNVM_AGENT_DNS_H
#define RUNVM_AGENT_DNS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

struct agent;
struct run_config;
struct rv_frame;

/* Queries in flight (a power of two: the slot is the low bits of the ID we send, the rest is a
 * generation). */
#define DNS_SLOTS 64

/* A DNS query relayed to the host, waiting for its answer. */
struct dns_query {
	bool used;
	uint16_t id;        /* the ID it went to the host with */
	uint16_t client_id; /* the ID the client gave it */
	struct sockaddr_in client;
};

/* With RV_ATTR_DNS_PROXY: listen on its address, port 53 (see relay_dns_queries()). */
int dns_proxy_start(struct agent *a, const struct run_config *run);
/* Queries from the container's resolvers (the socket is readable): each goes to the host as
 * RV_MSG_DNS, under an ID naming its slot; the oldest query loses its slot. */
void relay_dns_queries(struct agent *a);
/* An answer from the host: back to the client whose query had its ID, under the client's. */
void handle_dns(struct agent *a, const struct rv_frame *f);

#endif
