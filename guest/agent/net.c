/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The container's network: lo, and the virtio-net NIC taking the identity of the host's
 * interface, by ioctl (see net.h).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guest/agent/agent.h"
#include "guest/agent/net.h"
#include "guest/agent/util.h"

/* virtio-net NICs looked at (the host gives the guest one). */
#define MAX_NICS 8
/* How long to wait for the NIC to be running once up (it takes milliseconds). */
#define LINK_WAIT_MS 1000

void loopback_up(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			logmsg("bringing up lo: %m");
	}
	close(fd);
}

/* A virtio-net NIC: its interface name and its virtio device's ("virtio1"). */
struct nic {
	char name[IFNAMSIZ];
	char dev[32];
};

static int nic_cmp(const void *x, const void *y)
{
	return strcmp(((const struct nic *)x)->name, ((const struct nic *)y)->name);
}

/* The basename of the symlink @path points to. */
static int link_base(const char *path, char *buf, size_t size, const char **ret)
{
	ssize_t n = readlink(path, buf, size - 1);
	const char *b;

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	b = strrchr(buf, '/');
	*ret = b ? b + 1 : buf;
	return 0;
}

/* The interfaces whose device's driver is virtio_net, sorted by name. */
static size_t virtio_nics(struct nic *nics, size_t max)
{
	DIR *d = opendir("/sys/class/net");
	struct dirent *de;
	size_t n = 0;

	while (d && n < max && (de = readdir(d))) {
		char path[320], link[256];
		const char *base = "";

		if (de->d_name[0] == '.' || strlen(de->d_name) >= IFNAMSIZ)
			continue;
		snprintf(path, sizeof(path), "/sys/class/net/%s/device/driver", de->d_name);
		if (link_base(path, link, sizeof(link), &base) < 0 || strcmp(base, "virtio_net") != 0)
			continue;
		snprintf(path, sizeof(path), "/sys/class/net/%s/device", de->d_name);
		if (link_base(path, link, sizeof(link), &base) < 0 || strlen(base) >= sizeof(nics[n].dev))
			continue;
		strcpy(nics[n].name, de->d_name);
		strcpy(nics[n].dev, base);
		n++;
	}
	if (d)
		closedir(d);
	qsort(nics, n, sizeof(*nics), nic_cmp);
	return n;
}

/* No network: take the NICs from their driver, so that the container sees only lo (as runc
 * with --network none), not an interface it cannot use. */
static void detach_nics(const struct nic *nics, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int fd = open("/sys/bus/virtio/drivers/virtio_net/unbind", O_WRONLY | O_CLOEXEC);

		if (fd < 0 || write(fd, nics[i].dev, strlen(nics[i].dev)) < 0)
			logmsg("network: detaching %s (%s) from virtio_net, ignoring: %m", nics[i].name, nics[i].dev);
		if (fd >= 0)
			close(fd);
	}
}

static void ifr_set_name(struct ifreq *ifr, const char *name)
{
	memset(ifr, 0, sizeof(*ifr));
	memcpy(ifr->ifr_name, name, strnlen(name, IFNAMSIZ - 1));
}

static void sockaddr_in_set(struct sockaddr *sa, struct in_addr addr)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr = addr };

	memcpy(sa, &sin, sizeof(sin));
}

static struct in_addr prefix_mask(unsigned len)
{
	return (struct in_addr){ .s_addr = htonl(len ? 0xffffffffu << (32 - len) : 0) };
}

/* The kernel's struct in6_ifreq (linux/ipv6.h, which does not mix with netinet/in.h). */
struct agent_in6_ifreq {
	struct in6_addr ifr6_addr;
	uint32_t ifr6_prefixlen;
	int ifr6_ifindex;
};

/* The network could not be set up as asked: the RUN fails (the container must not start with
 * half a network). Returns -@err. */
static int net_error(struct proc *p0, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int net_error(struct proc *p0, int err, const char *fmt, ...)
{
	char what[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	set_error(p0, RV_EXIT_SETUP_FAILED, "network: %s: %s", what, strerror(err));
	return -err;
}

static int add_addr(struct proc *p0, const struct run_config *run, int fd4, int fd6, int ifindex,
		    const struct net_addr *ad, size_t *nv4)
{
	struct ifreq ifr;
	char label[IFNAMSIZ + 16];

	if (ad->pfx.family == AF_INET6) {
		struct agent_in6_ifreq r6 = { .ifr6_addr = ad->pfx.ip.v6,
					      .ifr6_prefixlen = ad->pfx.len,
					      .ifr6_ifindex = ifindex };

		if (ioctl(fd6, SIOCSIFADDR, &r6) < 0 && errno != EEXIST)
			return net_error(p0, errno, "add address %s to %s", ad->text, run->ifname);
		return 0;
	}
	/* The first IPv4 address on the interface, the others on alias labels, as ifconfig. */
	if (*nv4)
		snprintf(label, sizeof(label), "%s:%u", run->ifname, (unsigned)*nv4);
	else
		snprintf(label, sizeof(label), "%s", run->ifname);
	if (strlen(label) >= IFNAMSIZ)
		return net_error(p0, ENAMETOOLONG, "add address %s to %s (as %s)", ad->text, run->ifname, label);
	ifr_set_name(&ifr, label);
	sockaddr_in_set(&ifr.ifr_addr, ad->pfx.ip.v4);
	if (ioctl(fd4, SIOCSIFADDR, &ifr) < 0)
		return net_error(p0, errno, "add address %s to %s", ad->text, run->ifname);
	ifr_set_name(&ifr, label);
	sockaddr_in_set(&ifr.ifr_netmask, prefix_mask(ad->pfx.len));
	if (ioctl(fd4, SIOCSIFNETMASK, &ifr) < 0)
		return net_error(p0, errno, "set the prefix of address %s on %s", ad->text, run->ifname);
	(*nv4)++;
	return 0;
}

static int add_route(struct proc *p0, const struct run_config *run, int fd4, int fd6, int ifindex,
		     const struct net_route *rt)
{
	bool gw = rt->gw_text[0] != '\0';
	int r;

	if (rt->pfx.family == AF_INET6) {
		struct in6_rtmsg m = {
			.rtmsg_dst = rt->pfx.ip.v6,
			.rtmsg_dst_len = rt->pfx.len,
			.rtmsg_flags = RTF_UP | (gw ? RTF_GATEWAY : 0),
			.rtmsg_ifindex = ifindex,
		};

		if (gw)
			m.rtmsg_gateway = rt->gw.v6;
		r = ioctl(fd6, SIOCADDRT, &m);
	} else {
		struct in_addr mask = prefix_mask(rt->pfx.len), dst = { rt->pfx.ip.v4.s_addr & mask.s_addr };
		struct rtentry e = { .rt_flags = RTF_UP, .rt_dev = (char *)run->ifname };

		/* Masked: the kernel refuses a destination with host bits, `ip route` too. */
		sockaddr_in_set(&e.rt_dst, dst);
		sockaddr_in_set(&e.rt_genmask, mask);
		if (gw) {
			sockaddr_in_set(&e.rt_gateway, rt->gw.v4);
			e.rt_flags |= RTF_GATEWAY;
		}
		if (rt->pfx.len == 32)
			e.rt_flags |= RTF_HOST;
		r = ioctl(fd4, SIOCADDRT, &e);
	}
	/* EEXIST: the kernel made it already (an address's prefix route). */
	if (r < 0 && errno != EEXIST)
		return net_error(p0, errno, "add route %s %s %s", rt->dest, gw ? "via" : "dev",
				 gw ? rt->gw_text : run->ifname);
	return 0;
}

/* Give the NIC @cur the host interface's identity, addresses and routes (RV_ATTR_NET_*). */
static int configure_nic(struct proc *p0, const struct run_config *run, const char *cur, int fd4, int fd6)
{
	struct ifreq ifr;
	size_t i, nv4 = 0;
	int ifindex, r;

	/* Renaming needs it down; the kernel brings up nothing itself, but make sure. */
	ifr_set_name(&ifr, cur);
	if (ioctl(fd4, SIOCGIFFLAGS, &ifr) < 0)
		return net_error(p0, errno, "get the flags of %s", cur);
	if (ifr.ifr_flags & IFF_UP) {
		ifr.ifr_flags &= ~IFF_UP;
		if (ioctl(fd4, SIOCSIFFLAGS, &ifr) < 0)
			return net_error(p0, errno, "take %s down", cur);
	}
	if (strcmp(cur, run->ifname) != 0) {
		ifr_set_name(&ifr, cur);
		memcpy(ifr.ifr_newname, run->ifname, strlen(run->ifname));
		if (ioctl(fd4, SIOCSIFNAME, &ifr) < 0)
			return net_error(p0, errno, "rename %s to %s", cur, run->ifname);
	}
	ifr_set_name(&ifr, run->ifname);
	if (ioctl(fd4, SIOCGIFINDEX, &ifr) < 0)
		return net_error(p0, errno, "get the index of %s", run->ifname);
	ifindex = ifr.ifr_ifindex;
	ifr_set_name(&ifr, run->ifname);
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data, run->mac, sizeof(run->mac));
	if (ioctl(fd4, SIOCSIFHWADDR, &ifr) < 0)
		return net_error(p0, errno, "set MAC address of %s", run->ifname);
	ifr_set_name(&ifr, run->ifname);
	ifr.ifr_mtu = (int)run->mtu;
	if (ioctl(fd4, SIOCSIFMTU, &ifr) < 0)
		return net_error(p0, errno, "set MTU %u of %s", run->mtu, run->ifname);
	if (fd6 >= 0) {
		/* As Docker adds its IPv6 addresses (IFA_F_NODAD): usable at once, not tentative
		 * for the second or two duplicate address detection takes. */
		char path[96];
		int fd;

		snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/accept_dad", run->ifname);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "0", 1) < 0)
			logmsg("network: %s, ignoring: %m", path);
		if (fd >= 0)
			close(fd);
	}
	for (i = 0; i < run->naddrs; i++) {
		r = add_addr(p0, run, fd4, fd6, ifindex, &run->addrs[i], &nv4);
		if (r < 0)
			return r;
	}
	ifr_set_name(&ifr, run->ifname);
	if (ioctl(fd4, SIOCGIFFLAGS, &ifr) < 0)
		return net_error(p0, errno, "get the flags of %s", run->ifname);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd4, SIOCSIFFLAGS, &ifr) < 0)
		return net_error(p0, errno, "bring up %s", run->ifname);
	for (i = 0; i < run->nroutes; i++) {
		r = add_route(p0, run, fd4, fd6, ifindex, &run->routes[i]);
		if (r < 0)
			return r;
	}
	/* The kernel marks the link operational (IFF_RUNNING) a little after IFF_UP, from a
	 * workqueue that runs at most once a second, and only then does IPv6 configure it
	 * (link-local address). IPv4 does not wait for it (frames flow as soon as the NIC is up,
	 * its carrier is on from probe), so only a container with IPv6 addresses waits, to find
	 * the link as a veth would be, running. Measured: up to ~300 ms under TCG. */
	if (fd6 < 0)
		return 0;
	for (i = 0; i < LINK_WAIT_MS / 5; i++, sleep_ms(5)) {
		ifr_set_name(&ifr, run->ifname);
		if (ioctl(fd4, SIOCGIFFLAGS, &ifr) < 0 || (ifr.ifr_flags & IFF_RUNNING))
			return 0;
	}
	logmsg("network: %s is not running after %d ms, ignoring", run->ifname, LINK_WAIT_MS);
	return 0;
}

int setup_network(struct proc *p0, const struct run_config *run)
{
	struct nic nics[MAX_NICS];
	size_t n = virtio_nics(nics, MAX_NICS), i;
	bool v6 = false;
	int fd4, fd6 = -1, r;

	if (!run->ifname[0]) {
		detach_nics(nics, n);
		return 0;
	}
	if (!n) {
		set_error(p0, RV_EXIT_SETUP_FAILED, "network: no virtio-net NIC in the guest for %s", run->ifname);
		return -ENODEV;
	}
	if (n > 1)
		logmsg("network: %zu virtio-net NICs, configuring %s as %s", n, nics[0].name, run->ifname);
	for (i = 0; i < run->naddrs; i++)
		v6 |= run->addrs[i].pfx.family == AF_INET6;
	for (i = 0; i < run->nroutes; i++)
		v6 |= run->routes[i].pfx.family == AF_INET6;
	fd4 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd4 < 0)
		return net_error(p0, errno, "IPv4 socket");
	if (v6 && (fd6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
		r = net_error(p0, errno, "IPv6 socket");
		close(fd4);
		return r;
	}
	r = configure_nic(p0, run, nics[0].name, fd4, fd6);
	close(fd4);
	if (fd6 >= 0)
		close(fd6);
	return r;
}
