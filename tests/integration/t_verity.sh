# The verified block rootfs (sourced by run.sh): rootfs = block boots the bundle's rootfs as a
# read-only erofs image under dm-verity (its root hash on the kernel command line), built once
# and then found in the cache; the container's writes stay in the guest (a tmpfs overlay), a
# read-only root stays read-only, bind mounts still reach it, and an image with one byte flipped
# is refused by the guest when it reads that block. Its own bundle and cache, so that the first
# run really builds.

vr_bundle=$work/vbundle
vr_cache=$work/rcache
vr_conf=$work/verity.conf
make_rootfs "$vr_bundle/rootfs"
# One block of a known pattern to corrupt later, and a file to read.
python3 -c 'import sys; open(sys.argv[1], "wb").write(b"RUNVM-VERITY-PROBE-" * 216)' "$vr_bundle/rootfs/probe"
echo "from the image" >"$vr_bundle/rootfs/etc/motd"
sed -e '/^rootfs *=/d' -e '/^rootfs_cache *=/d' \
	-e "s|^\[runvm\]\$|[runvm]\nrootfs = block\nrootfs_cache = $vr_cache|" "$RUNVM_CONFIG" >"$vr_conf"

# vr ID JSON_ARGS [PY] [runvm-args...]: rv on the verity bundle with its configuration.
vr() {
	local saved=$bundle
	bundle=$vr_bundle
	RUNVM_CONFIG=$vr_conf rv "$@"
	bundle=$saved
}

vr_arch=$("$RUNVM" check 2>/dev/null | sed -n 's/^run would use .*, \([a-z0-9_]*\) guest$/\1/p')
if [ "$vr_arch" != x86_64 ]; then
	skip "rootfs = block: x86_64 guests only (this host's are ${vr_arch:-unknown})"
	return 0
fi
# The nested host VM carries no erofs-utils or cryptsetup: there the refusal is what is tested.
if ! command -v mkfs.erofs >/dev/null || ! command -v veritysetup >/dev/null; then
	vr vr0 '["true"]'
	check "rootfs = block without mkfs.erofs or veritysetup: refused, naming the package" \
		eval '[ "$rc" = 1 ] && [[ "$err" == *"rootfs = block needs "*"(Debian'"'"'s "* ]]'
	skip "rootfs = block: mkfs.erofs or veritysetup is not installed here (erofs-utils, cryptsetup-bin)"
	return 0
fi

vr vr1 '["sh", "-c", "cat /etc/motd; echo written > /newfile; cat /newfile; grep -c verity /proc/cmdline"]' '' --debug
check "rootfs = block: the image boots, reads, and takes writes" \
	eval '[ "$rc" = 0 ] && [ "$out" = "$(printf "from the image\nwritten\n1")" ]'
check "rootfs = block: first use builds the image" eval '[[ "$err" == *"rootfs = block: image "*" built in "* ]]'
check "rootfs = block: the container's writes stay in the guest" eval '[ ! -e "$vr_bundle/rootfs/newfile" ]'

vr vr2 '["cat", "/etc/motd"]' '' --debug
check "rootfs = block: the second run finds it in the cache" \
	eval '[ "$rc" = 0 ] && [ "$out" = "from the image" ] && [[ "$err" == *"from the cache"* ]] && [[ "$err" != *" built in "* ]]'
check "rootfs = block: one image in the cache" eval '[ "$(ls "$vr_cache" | wc -l)" = 1 ]'

vr vr3 '["sh", "-c", "echo x > /etc/motd; echo rc=$?"]' 'c["root"]["readonly"] = True'
check "rootfs = block, root read-only: writes refused" \
	eval '[ "$rc" = 0 ] && [[ "$err" == *"Read-only file system"* ]] && [ "$out" = rc=1 ]'

mkdir -p "$work/vr-bind" && echo "bound" >"$work/vr-bind/f"
vr vr4 '["cat", "/mnt/f"]' "c[\"mounts\"].append({\"destination\": \"/mnt\", \"type\": \"bind\", \"source\": \"$work/vr-bind\", \"options\": [\"rbind\", \"ro\"]})"
check "rootfs = block: bind mounts still reach the guest" eval '[ "$rc" = 0 ] && [ "$out" = bound ]'

# One byte of the probe's block flipped in the cached image: the guest refuses that block.
vr_image=$(ls "$vr_cache"/*/image)
python3 - "$vr_image" <<'PY'
import sys
p = sys.argv[1]
data = bytearray(open(p, "rb").read())
i = data.find(b"RUNVM-VERITY-PROBE-")
assert i >= 0, "probe not in the image"
data[i + 100] ^= 0x01
open(p, "wb").write(data)
PY
vr vr5 '["sh", "-c", "cat /etc/motd; cat /probe >/dev/null; echo probe=$?"]'
check "rootfs = block: a flipped byte in the image is refused by the guest (EIO), the rest reads" \
	eval '[ "$rc" = 0 ] && [[ "$out" == "from the image"* ]] && [[ "$out" == *"probe=1"* ]] && [[ "$err" == *"Input/output error"* ]]'
nothing_left vr5 && ok "rootfs = block: nothing left behind" || not_ok "rootfs = block: nothing left behind"
