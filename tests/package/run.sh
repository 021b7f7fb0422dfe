#!/bin/bash
# The Debian package end to end (`make check-package`): install $DEB (`make deb` builds it) on
# this machine, run `runvm check` and a busybox container from the installed files alone (the
# package's /usr/bin/runvm with a clean environment, from outside the tree: no build tree, no
# RUNVM_CONFIG), remove it and see that nothing but the conffile is left, purge it and see that
# nothing is left. Prints TAP and "package: N passed, N failed". Needs root, dpkg and apt-get,
# python3, busybox-static and the packaged QEMU (the package's dependencies).
#
# Whatever is in the package's way is put back afterwards: a runvm package already installed
# (say, by a run that was killed) is purged first, and files the package would overwrite that
# no package owns (a `make install` into /usr, a hand-written /etc/runvm/runvm.conf) are moved
# aside and restored.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/bundle.sh"
. "$here/../lib/tap.sh"
: "${DEB:?set DEB to the runvm .deb (make deb builds build/deb/runvm_VERSION_ARCH.deb)}"

[ "$(id -u)" = 0 ] || tap_skip_all package "needs root (it installs a package)"
command -v dpkg >/dev/null || tap_skip_all package "not a Debian system (no dpkg)"
[ -f "$DEB" ] || { not_ok "the package exists" "$DEB: no such file (make deb)"; tap_finish package; }

pkg=runvm
conffile=/etc/runvm/runvm.conf
work=$(mktemp -d /tmp/runvm-pkg-XXXXXX)
aside=$work/aside
# What runs the installed runvm: nothing of the caller's environment or of the tree.
clean_env=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8)

# dpkg ARGS..., waiting (up to 2 minutes) while another apt or dpkg holds its lock.
dpkg_locked() {
	local i
	for i in $(seq 60); do
		dpkg "$@" && return 0
		fuser /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock >/dev/null 2>&1 || return 1
		sleep 2
	done
	return 1
}

installed() { dpkg-query -W -f '${db:Status-Abbrev}' "$pkg" 2>/dev/null | grep -q '^ii'; }
# Anything of the package on this system: installed, half-installed, removed but its conffile
# kept (the status's second letter, dpkg-query(1), is n only when nothing is left).
present() {
	local s
	s=$(dpkg-query -W -f '${db:Status-Abbrev}' "$pkg" 2>/dev/null)
	[ -n "$s" ] && [ "${s:1:1}" != n ]
}

cleanup() {
	# A failed run leaves nothing installed, and puts back what it moved aside.
	if present; then
		dpkg_locked --purge "$pkg" >/dev/null 2>&1
	fi
	if [ -d "$aside" ]; then
		(cd "$aside" && find . ! -type d -print0) | while IFS= read -r -d '' f; do
			mkdir -p "$(dirname "${f#.}")" && mv -f "$aside/$f" "${f#.}"
		done
	fi
	rm -rf "$work"
}
trap cleanup EXIT
# Interrupted (Ctrl-C, a timeout), it still uninstalls and restores: exit runs the EXIT trap.
trap 'exit 1' INT TERM HUP

# --- in the way ---------------------------------------------------------------------------------
if present; then
	echo "# purging the $pkg package found installed"
	dpkg_locked --purge "$pkg" >"$work/purge0.log" 2>&1 || {
		not_ok "an installed $pkg purged first" "$(cat "$work/purge0.log")"
		tap_finish package
	}
fi
# The package's own files (tar listing: "./usr/bin/runvm"), those of them present that no
# package owns go aside.
dpkg-deb --fsys-tarfile "$DEB" | tar -t | sed -e 's|^\.||' -e 's|/$||' | sed '/^$/d' >"$work/deb-paths"
moved=0
while IFS= read -r p; do
	[ -e "$p" ] || [ -L "$p" ] || continue
	[ -d "$p" ] && [ ! -L "$p" ] && continue
	dpkg -S "$p" >/dev/null 2>&1 && continue
	mkdir -p "$aside$(dirname "$p")" && mv "$p" "$aside$p" && moved=$((moved + 1))
done <"$work/deb-paths"
[ "$moved" = 0 ] || echo "# moved $moved file(s) of no package out of the package's way, restored at the end"

# --- install ------------------------------------------------------------------------------------
# apt-get resolves the declared dependencies (QEMU, the shared libraries); dpkg -i where there
# is no apt.
if command -v apt-get >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=120 "$(realpath "$DEB")" >"$work/install.log" 2>&1
else
	dpkg_locked -i "$DEB" >"$work/install.log" 2>&1
fi
if installed; then
	ok "installed: $(basename "$DEB")"
else
	not_ok "installed: $(basename "$DEB")" "$(tail -20 "$work/install.log")"
	tap_finish package
fi
dpkg -L "$pkg" | sort -u >"$work/files"

arch=$(dpkg --print-architecture)
want=(/usr/bin/runvm /usr/share/runvm/vmlinux /usr/share/runvm/initramfs.cpio "$conffile"
	/usr/share/man/man8/runvm.8.gz /usr/share/man/man5/runvm.conf.5.gz)
[ "$arch" != amd64 ] || want+=(/usr/share/runvm/aarch64/Image /usr/share/runvm/aarch64/initramfs.cpio)
missing=
for f in "${want[@]}"; do
	grep -qx -- "$f" "$work/files" && [ -s "$f" ] || missing="$missing $f"
done
if [ -z "$missing" ]; then ok "the package holds runvm, the guests of every architecture, the conffile and the manual pages"
else not_ok "the package holds runvm, the guests of every architecture, the conffile and the manual pages" "missing:$missing"; fi

conffiles=$(dpkg-query -W -f '${Conffiles}' "$pkg")
sed 's|/usr/local/share/runvm|/usr/share/runvm|g' "$here/../../configs/runvm.conf" >"$work/runvm.conf"
if grep -q "^ $conffile " <<<"$conffiles" && cmp -s "$conffile" "$work/runvm.conf"; then
	ok "$conffile is a conffile, the documented configs/runvm.conf with the package's paths"
else
	not_ok "$conffile is a conffile, the documented configs/runvm.conf with the package's paths" "conffiles: $conffiles" \
		"$(diff "$work/runvm.conf" "$conffile" 2>&1 | head -20)"
fi

deps=$(dpkg-query -W -f '${Depends}' "$pkg")
need="qemu-system-arm libglib2.0-0 libjson-glib-1.0-0 libseccomp2 libcap2 libnl-route-3-200"
[ "$arch" != amd64 ] || need="$need qemu-system-x86"
missing=
for d in $need; do
	grep -Eq "(^|, )$d( |,|$)" <<<"$deps" || missing="$missing $d"
done
if [ -z "$missing" ]; then ok "its dependencies are declared: QEMU per guest architecture, the shared libraries"
else not_ok "its dependencies are declared: QEMU per guest architecture, the shared libraries" "Depends: $deps" "missing:$missing"; fi

out=$(ldd /usr/bin/runvm 2>&1)
if ! grep -q 'not found' <<<"$out"; then ok "every shared library of /usr/bin/runvm is found"
else not_ok "every shared library of /usr/bin/runvm is found" "$out"; fi

warn=$("${clean_env[@]}" MANWIDTH=80 man --warnings runvm.conf 2>&1 >/dev/null; "${clean_env[@]}" MANWIDTH=80 man --warnings 8 runvm 2>&1 >/dev/null)
if [ -z "$warn" ] && "${clean_env[@]}" man -w 8 runvm >/dev/null 2>&1 && "${clean_env[@]}" man -w 5 runvm.conf >/dev/null 2>&1; then
	ok "man runvm and man runvm.conf render"
else
	not_ok "man runvm and man runvm.conf render" "$warn"
fi

# --- run from the installed files alone ---------------------------------------------------------
cd "$work" || exit 1
out=$("${clean_env[@]}" /usr/bin/runvm check 2>&1); rc=$?
# Every guest architecture's kernel and initramfs found under /usr/share/runvm, the conffile
# read, a backend for the host's guests.
verdict=$("${clean_env[@]}" /usr/bin/runvm check --format json 2>&1 | python3 -c '
import json, sys
try:
    j = json.load(sys.stdin)
except ValueError as e:
    print("not JSON:", e); sys.exit()
bad = []
if j["configuration"] != "/etc/runvm/runvm.conf":
    bad.append("configuration %s" % j["configuration"])
for g in j["guests"]:
    for f in ("kernel", "initrd"):
        if not g[f]["path"].startswith("/usr/share/runvm/") or not g[f]["present"]:
            bad.append("%s %s %s" % (g["architecture"], f, g[f]))
if j["run"] is None:
    bad.append("no backend for the host guests")
print("; ".join(bad))
' 2>&1)
if [ "$rc" = 0 ] && [ -z "$verdict" ]; then
	ok "runvm check: the conffile read, every guest's kernel and initramfs under /usr/share/runvm"
else
	not_ok "runvm check: the conffile read, every guest's kernel and initramfs under /usr/share/runvm" "rc=$rc" "$verdict" "$out"
fi

make_rootfs "$work/bundle/rootfs"
make_config "$work/bundle" '["sh", "-c", "echo hello from the package; uname -r"]'
out=$(timeout 180 "${clean_env[@]}" /usr/bin/runvm --root "$work/state" run --bundle "$work/bundle" "pkg-$$" 2>"$work/run.err" </dev/null)
rc=$?
if [ "$rc" = 0 ] && [ "$(head -1 <<<"$out")" = "hello from the package" ] && [[ "$(sed -n 2p <<<"$out")" == 6.1.* ]] &&
	[ ! -e "$work/state/pkg-$$" ]; then
	ok "runvm run: a busybox container in a VM of the packaged guest kernel"
else
	not_ok "runvm run: a busybox container in a VM of the packaged guest kernel" "rc=$rc" "stdout=$out" "stderr=$(head -c 600 "$work/run.err")"
fi

# The aarch64 guest (TCG) where the package has one and the arm64 busybox is at hand (cached,
# or downloadable: tests/lib/bundle.sh).
if [ "$arch" = amd64 ]; then
	if make_rootfs "$work/bundle64/rootfs" arm64 2>"$work/arm64.err"; then
		make_config "$work/bundle64" '["sh", "-c", "uname -m"]'
		out=$(timeout 180 "${clean_env[@]}" /usr/bin/runvm --root "$work/state" run --bundle "$work/bundle64" "pkg64-$$" 2>"$work/run.err" </dev/null)
		rc=$?
		if [ "$rc" = 0 ] && [ "$out" = aarch64 ]; then
			ok "runvm run: an arm64 busybox container in the packaged aarch64 guest"
		else
			not_ok "runvm run: an arm64 busybox container in the packaged aarch64 guest" "rc=$rc" "stdout=$out" "stderr=$(head -c 600 "$work/run.err")"
		fi
	else
		skip "runvm run: an arm64 busybox container in the packaged aarch64 guest" "no arm64 busybox: $(head -1 "$work/arm64.err")"
	fi
fi
cd / || exit 1

# --- remove, purge ------------------------------------------------------------------------------
# left_of LIST: the paths of LIST still there, but for directories another package owns too
# (/usr/bin, /usr/share/man/man8, ...), which stay. (A removed package still owns its
# conffiles' directories: dpkg -S names it too.)
left_of() {
	local p others
	while IFS= read -r p; do
		[ "$p" != /. ] || continue
		[ -e "$p" ] || [ -L "$p" ] || continue
		if [ -d "$p" ] && [ ! -L "$p" ]; then
			others=$(dpkg -S "$p" 2>/dev/null | sed -n 's/: .*//p' | tr ',' '\n' | tr -d ' ' | grep -vx "$pkg")
			[ -z "$others" ] || continue
		fi
		echo "$p"
	done <"$1"
}

dpkg_locked -r "$pkg" >"$work/remove.log" 2>&1
status=$(dpkg-query -W -f '${db:Status-Abbrev}' "$pkg" 2>/dev/null)
left=$(left_of "$work/files")
if [ "$status" = "rc " ] && [ "$left" = "$(printf '/etc/runvm\n%s' "$conffile")" ]; then
	ok "dpkg -r: only the conffile is left"
else
	not_ok "dpkg -r: only the conffile is left" "status '$status'" "left: $left" "$(tail -5 "$work/remove.log")"
fi

dpkg_locked --purge "$pkg" >"$work/purge.log" 2>&1
status=$(dpkg-query -W -f '${db:Status-Abbrev}' "$pkg" 2>/dev/null)
left=$(left_of "$work/files")
if [ -z "$left" ] && [ ! -e /etc/runvm ] && { [ -z "$status" ] || [ "$status" = "un " ]; }; then
	ok "dpkg --purge: nothing is left, the conffile and /etc/runvm gone"
else
	not_ok "dpkg --purge: nothing is left, the conffile and /etc/runvm gone" "status '$status'" "left: $left" "$(tail -5 "$work/purge.log")"
fi

tap_finish package
