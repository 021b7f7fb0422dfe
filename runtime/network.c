/* SPDX-License-Identifier: GPL-2.0-or-later */
/* <net/if.h> before any <linux/...> header, which would otherwise redefine struct ifreq. */
#include <net/if.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <linux/pkt_cls.h>
#include <linux/tc_act/tc_mirred.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/act/mirred.h>
#include <netlink/route/addr.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/route.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/log.h"
#include "runtime/lib/spec.h"
#include "runtime/network.h"

/* libnl's types, for g_autoptr. */
typedef struct nl_sock NlSock;
typedef struct nl_cache NlCache;
typedef struct rtnl_link RtnlLink;
typedef struct rtnl_qdisc RtnlQdisc;
typedef struct rtnl_cls RtnlCls;
typedef struct rtnl_act RtnlAct;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NlSock, nl_socket_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NlCache, nl_cache_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RtnlLink, rtnl_link_put)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RtnlQdisc, rtnl_qdisc_put)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RtnlCls, rtnl_cls_put)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RtnlAct, rtnl_act_put)

#define INGRESS_HANDLE TC_HANDLE(0xffff, 0)

int rt_net_tap_check(struct rt_error **err)
{
	/* A second VM on the same namespace would fight the first over its interface. */
	if (if_nametoindex(RT_NET_TAP) != 0)
		return rt_make_error(err, 0,
				     "the network namespace of another runvm container cannot be shared: "
				     "its VM owns the namespace's interfaces");
	return 0;
}

int rt_net_tap_open(int *ret_fd, struct rt_error **err)
{
	/* IFF_VNET_HDR (every backend's virtio-net expects it): the NIC then offers the guest checksum and segmentation offloads, so a
	 * TCG guest hands 64 KiB segments to the host instead of checksumming every frame. */
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	_cleanup_close_ int fd = -EBADF;

	if (rt_net_tap_check(err) < 0)
		return -1;
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return rt_make_error(err, errno, "open /dev/net/tun");
	g_strlcpy(ifr.ifr_name, RT_NET_TAP, sizeof(ifr.ifr_name));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return rt_make_error(err, errno, "create tap device %s", RT_NET_TAP);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int nl_fail(struct rt_error **err, int nlerr, const char *what)
{
	return rt_make_error(err, 0, "network: %s: %s", what, nl_geterror(nlerr));
}

/* "ADDRESS" of a netlink address; an absent or empty one is the family's any-address. */
static void addr_str(struct nl_addr *a, int family, char buf[INET6_ADDRSTRLEN])
{
	static const uint8_t zero[16];
	const void *bin = a && nl_addr_get_len(a) ? nl_addr_get_binary_addr(a) : zero;

	if (!inet_ntop(family, bin, buf, INET6_ADDRSTRLEN))
		g_strlcpy(buf, "?", INET6_ADDRSTRLEN);
}

/*
 * The interface the guest takes over: the namespace's Ethernet device (Docker's and CNI's
 * veth). Only one is connected; a second one (docker network connect before start) stays in
 * the namespace, unused, and is named in the debug log.
 */
static struct rtnl_link *pick_link(struct nl_cache *links, int tap)
{
	struct rtnl_link *found = NULL;

	for (struct nl_object *o = nl_cache_get_first(links); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *)o;

		if (rtnl_link_get_ifindex(l) == tap || rtnl_link_get_arptype(l) != ARPHRD_ETHER ||
		    (rtnl_link_get_flags(l) & IFF_LOOPBACK))
			continue;
		if (found)
			rt_debug("network: %s is not connected to the guest (only %s is)", rtnl_link_get_name(l),
				 rtnl_link_get_name(found));
		else
			found = l;
	}
	return found;
}

static int read_addrs(struct nl_sock *sk, struct rt_netcfg *net, struct rt_error **err)
{
	g_autoptr(NlCache) cache = NULL;
	int r = rtnl_addr_alloc_cache(sk, &cache);

	if (r < 0)
		return nl_fail(err, r, "list addresses");
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		int family = rtnl_addr_get_family(a);
		char buf[INET6_ADDRSTRLEN];

		/* The guest makes its own link-local address from the same MAC. */
		if (rtnl_addr_get_ifindex(a) != net->ifindex || (family != AF_INET && family != AF_INET6) ||
		    rtnl_addr_get_scope(a) == RT_SCOPE_LINK)
			continue;
		addr_str(rtnl_addr_get_local(a), family, buf);
		g_ptr_array_add(net->addrs, g_strdup_printf("%s/%d", buf, rtnl_addr_get_prefixlen(a)));
	}
	return 0;
}

static int read_routes(struct nl_sock *sk, struct rt_netcfg *net, struct rt_error **err)
{
	g_autoptr(NlCache) cache = NULL;
	int r = rtnl_route_alloc_cache(sk, AF_UNSPEC, 0, &cache);

	if (r < 0)
		return nl_fail(err, r, "list routes");
	/* The kernel's dump lists the prefix routes of the addresses first, then the others in
	 * the order that lets them be added again (a gateway's on-link route before its user). */
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_route *rt = (struct rtnl_route *)o;
		int family = rtnl_route_get_family(rt);
		struct rtnl_nexthop *nh;
		struct nl_addr *dst = rtnl_route_get_dst(rt);
		char d[INET6_ADDRSTRLEN], gw[INET6_ADDRSTRLEN] = "";

		/* Prefix routes of addresses come back by themselves when the guest adds them. */
		if ((family != AF_INET && family != AF_INET6) || rtnl_route_get_table(rt) != RT_TABLE_MAIN ||
		    rtnl_route_get_type(rt) != RTN_UNICAST || rtnl_route_get_protocol(rt) == RTPROT_KERNEL ||
		    rtnl_route_get_nnexthops(rt) != 1)
			continue;
		nh = rtnl_route_nexthop_n(rt, 0);
		if (rtnl_route_nh_get_ifindex(nh) != net->ifindex)
			continue;
		addr_str(dst, family, d);
		if (rtnl_route_nh_get_gateway(nh))
			addr_str(rtnl_route_nh_get_gateway(nh), family, gw);
		g_ptr_array_add(net->routes, g_strdup_printf("%s/%u\n%s", d, dst ? nl_addr_get_prefixlen(dst) : 0, gw));
	}
	return 0;
}

static int add_ingress_qdisc(struct nl_sock *sk, int ifindex, struct rt_error **err)
{
	g_autoptr(RtnlQdisc) q = rtnl_qdisc_alloc();
	int r;

	if (!q)
		return rt_make_error(err, ENOMEM, "network: qdisc");
	rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_INGRESS);
	rtnl_tc_set_handle(TC_CAST(q), INGRESS_HANDLE);
	rtnl_tc_set_kind(TC_CAST(q), "ingress");
	r = rtnl_qdisc_add(sk, q, NLM_F_CREATE | NLM_F_EXCL);
	return r < 0 ? nl_fail(err, r, "add an ingress qdisc") : 0;
}

/* What a filter matches: every frame, ARP, or IPv4 UDP from port 53 (DNS answers). */
enum match { MATCH_ALL, MATCH_ARP, MATCH_DNS_ANSWER };

/* An ingress filter on @ifindex: u32 on @match, then the action. @to >= 0: mirred to that
 * interface, redirecting (the frame is gone) or mirroring (it goes on up this stack too);
 * @to < 0: no action, the match ends classification and the frame goes up this stack only
 * (what `flowid` does on ingress; gact is often not built). */
static int add_filter(struct nl_sock *sk, int ifindex, uint16_t prio, enum match match, int to, bool mirror,
		      struct rt_error **err)
{
	g_autoptr(RtnlCls) cls = rtnl_cls_alloc();
	g_autoptr(RtnlAct) act = rtnl_act_alloc();
	int r;

	if (!cls || !act)
		return rt_make_error(err, ENOMEM, "network: filter");
	rtnl_tc_set_kind(TC_CAST(act), "mirred");
	rtnl_mirred_set_action(act, mirror ? TCA_EGRESS_MIRROR : TCA_EGRESS_REDIR);
	rtnl_mirred_set_policy(act, mirror ? TC_ACT_PIPE : TC_ACT_STOLEN);
	rtnl_mirred_set_ifindex(act, (uint32_t)to);
	rtnl_tc_set_ifindex(TC_CAST(cls), ifindex);
	rtnl_tc_set_parent(TC_CAST(cls), INGRESS_HANDLE);
	rtnl_tc_set_kind(TC_CAST(cls), "u32");
	rtnl_cls_set_prio(cls, prio);
	rtnl_cls_set_protocol(cls, match == MATCH_ALL ? ETH_P_ALL : match == MATCH_ARP ? ETH_P_ARP : ETH_P_IP);
	/* Offsets count from the network header; an IPv4 header without options is 20 bytes. */
	if (match == MATCH_DNS_ANSWER) {
		r = rtnl_u32_add_key_uint8(cls, IPPROTO_UDP, 0xff, 9, 0);
		if (r == 0)
			r = rtnl_u32_add_key_uint16(cls, 53, 0xffff, 20, 0);
	} else {
		r = rtnl_u32_add_key_uint32(cls, 0, 0, 0, 0);
	}
	if (r == 0)
		r = rtnl_u32_set_cls_terminal(cls);
	if (r == 0)
		r = to >= 0 ? rtnl_u32_add_action(cls, act) : rtnl_u32_set_classid(cls, TC_HANDLE(1, 1));
	if (r == 0)
		r = rtnl_cls_add(sk, cls, NLM_F_CREATE | NLM_F_EXCL);
	return r < 0 ? nl_fail(err, r, "add a tc filter") : 0;
}

/*
 * Everything the interface receives goes to the tap, and everything the guest sends out of
 * the interface. With a DNS proxy, the namespace's own stack must still reach the network:
 * Docker's embedded resolver forwards other names upstream from inside the namespace. It gets
 * a copy of every ARP frame (both stacks answer for the same MAC and address, identically)
 * and the UDP answers from port 53; the guest asks only the proxy, so it misses none of its own.
 */
static int connect_tap(struct nl_sock *sk, int ifindex, int tap, bool upstream_dns, struct rt_error **err)
{
	if (add_ingress_qdisc(sk, ifindex, err) < 0 || add_ingress_qdisc(sk, tap, err) < 0 ||
	    add_filter(sk, tap, 1, MATCH_ALL, ifindex, false, err) < 0)
		return -1;
	if (upstream_dns &&
	    (add_filter(sk, ifindex, 1, MATCH_ARP, tap, true, err) < 0 ||
	     add_filter(sk, ifindex, 2, MATCH_DNS_ANSWER, -1, false, err) < 0))
		return -1;
	return add_filter(sk, ifindex, 3, MATCH_ALL, tap, false, err);
}

/* The tap carries the interface's MTU and is up. */
static int tap_up(struct nl_sock *sk, struct rtnl_link *tap, unsigned mtu, struct rt_error **err)
{
	g_autoptr(RtnlLink) change = rtnl_link_alloc();
	int r;

	if (!change)
		return rt_make_error(err, ENOMEM, "network: tap");
	rtnl_link_set_mtu(change, mtu);
	rtnl_link_set_flags(change, IFF_UP);
	r = rtnl_link_change(sk, tap, change, 0);
	return r < 0 ? nl_fail(err, r, "bring up " RT_NET_TAP) : 0;
}

/*
 * Docker's embedded DNS: the bundle's /etc/resolv.conf names a resolver on the namespace's
 * loopback. Returns the first such address, or NULL.
 */
static char *loopback_resolver(const struct rt_spec *spec)
{
	for (size_t i = 0; i < spec->n_mounts; i++) {
		const struct rt_mount *m = &spec->mounts[i];
		g_autofree char *data = NULL;
		g_auto(GStrv) lines = NULL;

		if (!m->bind || !m->source || strcmp(m->destination, "/etc/resolv.conf") != 0 ||
		    !g_file_get_contents(m->source, &data, NULL, NULL))
			continue;
		lines = g_strsplit(data, "\n", -1);
		for (char **l = lines; *l; l++) {
			g_auto(GStrv) w = g_strsplit_set(g_strstrip(*l), " \t", 3);
			struct in_addr a;

			if (w[0] && w[1] && strcmp(w[0], "nameserver") == 0 && inet_pton(AF_INET, w[1], &a) == 1 &&
			    (ntohl(a.s_addr) >> 24) == 127)
				return g_strdup(w[1]);
		}
	}
	return NULL;
}

static int dns_open(struct rt_netcfg *net, struct rt_error **err)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(53) };
	_cleanup_close_ int fd = -EBADF;

	if (!net->dns)
		return 0;
	inet_pton(AF_INET, net->dns, &sa.sin_addr);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return rt_make_error(err, errno, "network: DNS socket to %s", net->dns);
	net->dns_fd = TAKE_FD(fd);
	return 0;
}

/* /proc/sys/net is the reader's namespace's: ours, the container's. */
static bool ipv6_disabled(const char *ifname)
{
	g_autofree char *path = g_strdup_printf("/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
	g_autofree char *v = NULL;

	return g_file_get_contents(path, &v, NULL, NULL) && v[0] == '1';
}

int rt_net_connect(const struct rt_spec *spec, struct rt_netcfg *net, struct rt_error **err)
{
	g_autoptr(NlSock) sk = nl_socket_alloc();
	g_autoptr(NlCache) links = NULL;
	struct rtnl_link *tap, *link;
	struct nl_addr *mac;
	int r;

	net->addrs = g_ptr_array_new_with_free_func(g_free);
	net->routes = g_ptr_array_new_with_free_func(g_free);
	if (!sk)
		return rt_make_error(err, ENOMEM, "network: netlink socket");
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r == 0)
		r = rtnl_link_alloc_cache(sk, AF_UNSPEC, &links);
	if (r < 0)
		return nl_fail(err, r, "list interfaces");
	tap = rtnl_link_get_by_name(links, RT_NET_TAP);
	if (!tap)
		return rt_make_error(err, 0, "network: %s is gone from the container's namespace", RT_NET_TAP);
	rtnl_link_put(tap); /* the cache keeps it */
	link = pick_link(links, rtnl_link_get_ifindex(tap));
	if (link) {
		mac = rtnl_link_get_addr(link);
		if (!mac || nl_addr_get_len(mac) != ETH_ALEN)
			return rt_make_error(err, 0, "network: %s has no Ethernet address", rtnl_link_get_name(link));
		nl_addr2str(mac, net->mac, sizeof(net->mac));
		net->ifname = g_strdup(rtnl_link_get_name(link));
		net->ifindex = rtnl_link_get_ifindex(link);
		net->mtu = rtnl_link_get_mtu(link);
		net->ipv6_disabled = ipv6_disabled(net->ifname);
		net->dns = loopback_resolver(spec);
		if (read_addrs(sk, net, err) < 0 || read_routes(sk, net, err) < 0 ||
		    tap_up(sk, tap, net->mtu, err) < 0 ||
		    connect_tap(sk, net->ifindex, rtnl_link_get_ifindex(tap), net->dns != NULL, err) < 0)
			return -1;
		rt_debug("network: %s (%s, mtu %u, %u addresses, %u routes) redirected to the guest", net->ifname,
			 net->mac, net->mtu, net->addrs->len, net->routes->len);
	}
	return dns_open(net, err);
}

/* Take the ingress qdisc off @ifindex in this thread's namespace: its filters go with it.
 * Returns the netlink error, or 0 (also when it was gone already). */
static int drop_redirect(int ifindex)
{
	g_autoptr(NlSock) sk = nl_socket_alloc();
	g_autoptr(RtnlQdisc) q = rtnl_qdisc_alloc();
	int r;

	if (!sk || !q)
		return -NLE_NOMEM;
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0)
		return r;
	rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
	rtnl_tc_set_parent(TC_CAST(q), TC_H_INGRESS);
	rtnl_tc_set_handle(TC_CAST(q), INGRESS_HANDLE);
	rtnl_tc_set_kind(TC_CAST(q), "ingress");
	r = rtnl_qdisc_delete(sk, q);
	return r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV || r == -NLE_INVAL ? 0 : r;
}

/* Delete RT_NET_TAP in this thread's namespace, if it is there. */
static void drop_tap(void)
{
	g_autoptr(NlSock) sk = nl_socket_alloc();
	g_autoptr(RtnlLink) link = rtnl_link_alloc();

	if (!sk || !link || nl_connect(sk, NETLINK_ROUTE) < 0)
		return;
	rtnl_link_set_name(link, RT_NET_TAP);
	rtnl_link_delete(sk, link);
}

int rt_net_unredirect(const char *netns_path, int ifindex, struct rt_error **err)
{
	_cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int ns = -EBADF;
	int r;

	if (self < 0)
		return rt_make_error(err, errno, "open /proc/thread-self/ns/net");
	ns = open(netns_path, O_RDONLY | O_CLOEXEC);
	/* A namespace that is gone took its veth and the filters with it. */
	if (ns < 0 && errno == ENOENT)
		return 0;
	if (ns < 0 || setns(ns, CLONE_NEWNET) < 0)
		return rt_make_error(err, errno, "network: join `%s`", netns_path);
	r = drop_redirect(ifindex);
	/* A backend's persistent tap (HV_FEAT_EXTERNAL) outlives its QEMU: the monitor would have
	 * deleted it. */
	drop_tap();
	if (setns(self, CLONE_NEWNET) < 0)
		return rt_make_error(err, errno, "network: return to the host's namespace");
	return r < 0 ? nl_fail(err, r, "remove the redirect to the guest") : 0;
}

void rt_net_release(struct rt_netcfg *net)
{
	if (net->ifindex > 0)
		drop_redirect(net->ifindex);
	if (net->dns_fd >= 0)
		close(net->dns_fd);
	g_free(net->ifname);
	g_free(net->dns);
	if (net->addrs)
		g_ptr_array_unref(net->addrs);
	if (net->routes)
		g_ptr_array_unref(net->routes);
	*net = (struct rt_netcfg)RT_NETCFG_INIT;
}
