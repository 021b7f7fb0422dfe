/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/if_tun.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>

#include <glib.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "hypervisor-backends/libvirt/tap.h"

typedef struct rtnl_link LvRtnlLink;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LvRtnlLink, rtnl_link_put)

static int nl_fail(struct rt_error **err, int nlerr, const char *what, const char *name)
{
	return rt_make_error(err, 0, "%s tap %s: %s", what, name, nl_geterror(nlerr));
}

/* Enter the namespace, do what must be born there (the tun device and a netlink socket), and
 * return: sockets and devices keep the namespace they were made in. Only this thread moves. */
static int make_in(const char *name, struct lv_tap *t, struct rt_error **err)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	_cleanup_close_ int tun = -EBADF;
	int r;

	tun = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (tun < 0)
		return rt_make_error(err, errno, "open /dev/net/tun");
	g_strlcpy(ifr.ifr_name, name, sizeof(ifr.ifr_name));
	if (ioctl(tun, TUNSETIFF, &ifr) < 0)
		return rt_make_error(err, errno, "create tap device %s", name);
	if (ioctl(tun, TUNSETPERSIST, 1) < 0)
		return rt_make_error(err, errno, "make tap device %s persistent", name);
	t->ifindex = (int)if_nametoindex(name);
	t->sk = nl_socket_alloc();
	if (!t->sk)
		return rt_make_error(err, ENOMEM, "netlink socket");
	r = nl_connect(t->sk, NETLINK_ROUTE);
	if (r < 0)
		return nl_fail(err, r, "connect to", name);
	return 0;
}

int lv_tap_make(pid_t daemon_pid, const char *name, struct lv_tap *ret, struct rt_error **err)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/ns/net", (int)daemon_pid);
	_cleanup_close_ int ours = -EBADF, theirs = -EBADF;
	struct lv_tap t = { 0 };
	int r;

	g_strlcpy(t.name, name, sizeof(t.name));
	ours = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	theirs = open(path, O_RDONLY | O_CLOEXEC);
	if (ours < 0 || theirs < 0)
		return rt_make_error(err, errno, "open the network namespace of libvirt's daemon (%s)", path);
	if (setns(theirs, CLONE_NEWNET) < 0)
		return rt_make_error(err, errno, "enter the network namespace of libvirt's daemon");
	r = make_in(name, &t, err);
	if (setns(ours, CLONE_NEWNET) < 0)
		/* The thread would go on in the wrong namespace: nothing sane is left to do. */
		g_error("cannot return to the container's network namespace: %s", strerror(errno));
	if (r < 0) {
		lv_tap_release(&t);
		return -1;
	}
	*ret = t;
	return 0;
}

int lv_tap_hand_over(struct lv_tap *t, const char *new_name, struct rt_error **err)
{
	g_autoptr(LvRtnlLink) link = rtnl_link_alloc(), change = rtnl_link_alloc();
	_cleanup_close_ int ours = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int r;

	if (ours < 0)
		return rt_make_error(err, errno, "open the container's network namespace");
	if (!link || !change)
		return rt_make_error(err, ENOMEM, "netlink");
	rtnl_link_set_ifindex(link, t->ifindex);
	rtnl_link_set_ns_fd(change, ours);
	rtnl_link_set_name(change, new_name);
	r = rtnl_link_change(t->sk, link, change, 0);
	if (r < 0)
		return nl_fail(err, r, "move", t->name);
	t->moved = true;
	return 0;
}

void lv_tap_release(struct lv_tap *t)
{
	if (!t || !t->sk)
		return;
	if (!t->moved && t->ifindex > 0) {
		g_autoptr(LvRtnlLink) link = rtnl_link_alloc();

		if (link) {
			rtnl_link_set_ifindex(link, t->ifindex);
			rtnl_link_delete(t->sk, link);
		}
	}
	nl_socket_free(t->sk);
	t->sk = NULL;
}

int lv_tap_delete_here(const char *name)
{
	struct nl_sock *sk = nl_socket_alloc();
	g_autoptr(LvRtnlLink) link = rtnl_link_alloc();
	int r;

	if (!sk || !link) {
		nl_socket_free(sk);
		return -ENOMEM;
	}
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r == 0) {
		rtnl_link_set_name(link, name);
		r = rtnl_link_delete(sk, link);
	}
	nl_socket_free(sk);
	return r == 0 || r == -NLE_NODEV || r == -NLE_OBJ_NOTFOUND ? 0 : -EIO;
}
