/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The container's network, Kata's "tcfilter" model. The monitor lives in the container's
 * network namespace. At create it opens a tap device there, RT_NET_TAP, which becomes the
 * guest's virtio-net NIC. At start (after the prestart hooks, and after Docker 26+ has set
 * the namespace up between create and start) it reads the namespace's interface, addresses
 * and routes with libnl, redirects everything the interface receives to the tap and back with
 * tc (ingress qdisc, u32 match-all, mirred egress redirect), and hands the configuration to
 * the agent, which gives the guest's NIC the same name, MAC, MTU, addresses and routes.
 *
 * A backend whose hypervisor a daemon starts (HV_FEAT_EXTERNAL: libvirt) makes the tap itself,
 * in the daemon's namespace, and moves it here as RT_NET_TAP once QEMU holds it; from there on
 * it is the same.
 *
 * The guest thereby owns the interface's identity; the namespace's own stack no longer sees
 * what arrives on it. Its loopback still works, which Docker's embedded DNS (127.0.0.11)
 * relies on: the agent proxies DNS queries to the monitor, which asks the resolver here.
 */
#ifndef RUNVM_NETWORK_H
#define RUNVM_NETWORK_H

#include <stdbool.h>

#include <glib.h>

struct rt_error;
struct rt_spec;

/* The tap's name in the namespace. Its presence means another runvm container's monitor
 * already lives there. */
#define RT_NET_TAP "runvm-tap0"

struct rt_netcfg {
	char *ifname; /* the namespace's interface the guest takes over, or NULL: none */
	int ifindex;
	char mac[18]; /* "aa:bb:cc:dd:ee:ff" */
	unsigned mtu;
	bool ipv6_disabled; /* the caller turned IPv6 off on it (Docker, for IPv4-only networks) */
	GPtrArray *addrs;   /* "ADDRESS/PREFIXLEN" */
	GPtrArray *routes;  /* "DEST/PREFIXLEN\nGATEWAY" (empty GATEWAY: on-link) */
	char *dns;          /* loopback resolver to proxy for the guest, or NULL */
	int dns_fd;         /* UDP socket connected to dns:53, or -1 */
};

/* clang-format off */
#define RT_NETCFG_INIT { .dns_fd = -1 }
/* clang-format on */

/* In the container's namespace, at create: fails clearly when another runvm container's tap
 * is there (a backend with HV_FEAT_EXTERNAL makes RT_NET_TAP itself). */
int rt_net_tap_check(struct rt_error **err);

/* In the container's namespace, at create: the tap for the guest's NIC (IFF_TAP | IFF_NO_PI,
 * gone when the last fd closes). Fails clearly when another runvm container's tap is there. */
int rt_net_tap_open(int *ret_fd, struct rt_error **err);

/* At start: read the namespace's network, redirect it to the tap, and fill @net with what the
 * agent needs. A namespace with loopback only leaves net->ifname NULL. */
int rt_net_connect(const struct rt_spec *spec, struct rt_netcfg *net, struct rt_error **err);

/* When the container ends: take the redirect off the interface (a namespace that outlives the
 * container, a CNI one, keeps its veth), close the DNS socket, free. Never fails. */
void rt_net_release(struct rt_netcfg *net);

/* After a monitor that died without rt_net_release() (SIGKILL): in the namespace at
 * @netns_path, take the redirect off interface @ifindex. A namespace that is gone is fine. */
int rt_net_unredirect(const char *netns_path, int ifindex, struct rt_error **err);

#endif
