# Shared by tests, demo and bench: make an OCI bundle around a busybox rootfs.
# Source it; needs python3 (for JSON) and busybox-static.

# arm64_busybox: the path of Debian's busybox-static for arm64, downloaded once (apt-get
# download, after `dpkg --add-architecture arm64`, which `make deps` does) into the cache.
arm64_busybox() {
	local cache=${RUNVM_CACHE:-/var/cache/runvm}/busybox-arm64
	if [ ! -x "$cache/bin/busybox" ]; then
		local tmp
		tmp=$(mktemp -d) || return 1
		(cd "$tmp" && apt-get download -q busybox-static:arm64 >/dev/null 2>&1) &&
			dpkg-deb -x "$tmp"/busybox-static_*_arm64.deb "$tmp/x" && mkdir -p "$cache/bin" &&
			cp "$tmp/x/bin/busybox" "$cache/bin/busybox.new" && mv "$cache/bin/busybox.new" "$cache/bin/busybox"
		rm -rf "$tmp"
		[ -x "$cache/bin/busybox" ] || { echo "cannot download busybox-static:arm64 (make deps adds the architecture)" >&2; return 1; }
	fi
	echo "$cache/bin/busybox"
}

# make_rootfs DIR [arm64]: a busybox rootfs from Debian's busybox-static, of the host's
# architecture or arm64.
make_rootfs() {
	local root=$1 bb
	bb=$(command -v busybox) || { echo "busybox not found (apt-get install busybox-static)" >&2; return 1; }
	mkdir -p "$root"/{bin,etc,tmp,proc,sys,dev,root}
	chmod 1777 "$root/tmp"
	if [ "${2:-}" = arm64 ]; then
		cp "$(arm64_busybox)" "$root/bin/busybox" || return 1
	else
		cp "$bb" "$root/bin/busybox"
	fi
	local app
	# The host's busybox lists the applets: the same Debian build, which this host can run.
	for app in $("$bb" --list); do
		[ -e "$root/bin/$app" ] || ln -s busybox "$root/bin/$app"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$root/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
}

# make_config BUNDLE JSON_ARGS [PYTHON_DICT_UPDATES]: write BUNDLE/config.json running JSON_ARGS
# (a JSON array) in BUNDLE/rootfs. The optional third argument is Python code run with `c` bound
# to the config dict, e.g. 'c["process"]["cwd"] = "/tmp"'.
make_config() {
	python3 - "$1" "$2" "${3:-}" <<'PY'
import json, sys
bundle, args, extra = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
c = {
    "ociVersion": "1.0.2",
    "process": {
        "terminal": False,
        "user": {"uid": 0, "gid": 0},
        "args": args,
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
        "cwd": "/",
    },
    "root": {"path": "rootfs", "readonly": False},
    "hostname": "runvm",
    # runvm ignores these; they make the same bundle valid for runc (the bench baseline).
    # The mounts `runc spec` writes.
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    ],
    "linux": {"namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network")]},
}
exec(extra)
with open(bundle + "/config.json", "w") as f:
    json.dump(c, f, indent=1)
PY
}
