# The rootfs share's guest-side cache (9p cache=loose, issue 14 point 8) and the coherence the
# agent keeps around it (README "File I/O"): what a container writes is on the host when its
# process (main or exec'd) ends, and within seconds while it runs; what the host changes in the
# rootfs is seen by the next exec'd process; a reread is served from the guest's page cache;
# bind mounts see host changes at once. Backend-agnostic (the nested suite runs it with
# --backend kvm, whose 9p server is kvm/virtio/p9.c). Sourced by run.sh.

rfs=$bundle/rootfs
rm -f "$rfs"/fio-*
# The kvm backend's 9p server holds an fd per fid, so its guests keep the rootfs uncached
# (cache=mmap, HV_FEAT_CACHED_ROOTFS): everything but the page cache holds there too.
fio_backend=$("$RUNVM" check 2>/dev/null | sed -n 's/^run would use *backend \([^,]*\),.*/\1/p')
fio_cache=loose
[ "$fio_backend" = kvm ] && fio_cache=mmap

# --- written by the container: on the host when the process ends ------------------------------
# The main process: finish() syncs before EXIT. The file made read-only (0444) before its data
# is written back needs the 9p server to open it for writing anyway (the client's writeback fid
# is opened O_RDWR as root), as QEMU's passthrough server and kvm/virtio/p9.c do.
rv fio-main '["sh","-c","head -c 4000000 /dev/urandom > /fio-a && (umask 222; head -c 300000 /dev/urandom > /fio-ro) && md5sum /fio-a /fio-ro | cut -d\" \" -f1 | tr \"\\n\" \" \""]'
host=$(md5sum "$rfs/fio-a" "$rfs/fio-ro" 2>/dev/null | cut -d' ' -f1 | tr '\n' ' ')
check "the main process's writes (4 MB, and a 0444 file) are on the host when run returns" \
	eval '[ "$rc" = 0 ] && [ -n "$out" ] && [ "$out" = "$host" ] && [ "$(stat -c %a "$rfs/fio-ro")" = 444 ]'

printf 'old' > "$rfs/fio-h"
printf 'doomed' > "$rfs/fio-gone"
create_bg fio-x '["sh","-c","echo $(cat /proc/sys/vm/dirty_expire_centisecs /proc/sys/vm/dirty_writeback_centisecs); head -c 1000000 /dev/urandom > /fio-c && md5sum /fio-c | cut -d\" \" -f1 > /fio-c.sum && exec sleep 600"]'
"${R[@]}" start fio-x

# The main process goes on running: its writes reach the host by writeback, not at an exit:
# the agent sets the guest's dirty expiry and flusher period to 1 s each (the kernel's 30 s and
# 5 s took about 5 s here), so about 2 s at most; 10 s leaves room for a loaded host. Checked
# before any exec (an exec syncs).
for _ in $(seq 100); do [ -s "$work/fio-x.out" ] && break; sleep 0.1; done
out=$(cat "$work/fio-x.out") err= rc=
check "the guest writes back dirty rootfs pages after 1 s (dirty_expire_centisecs, dirty_writeback_centisecs)" test "$out" = "100 100"
ok_wb=
for _ in $(seq 100); do
	sum=$(cat "$rfs/fio-c.sum" 2>/dev/null)
	[ -n "$sum" ] && [ "$sum" = "$(md5sum "$rfs/fio-c" 2>/dev/null | cut -d' ' -f1)" ] && { ok_wb=1; break; }
	sleep 0.1
done
out=$sum err= rc=
check "a running process's writes reach the host by writeback within 10 s" test -n "$ok_wb"

# An exec'd process: the agent syncs before its EXIT. Checked at once, the container running.
out=$("${R[@]}" exec fio-x sh -c 'head -c 4000000 /dev/urandom > /fio-b && md5sum /fio-b | cut -d" " -f1' 2>"$work/stderr")
rc=$?; err=$(cat "$work/stderr")
host=$(md5sum "$rfs/fio-b" 2>/dev/null | cut -d' ' -f1)
check "an exec'd process's writes (4 MB) are on the host when exec returns, the container running" \
	eval '[ "$rc" = 0 ] && [ -n "$out" ] && [ "$out" = "$host" ]'

# --- changed by the host while the container runs: seen by the next exec ---------------------
# The guest first caches all three: the file's data and size, the removed file, and a negative
# dentry for the one the host creates afterwards.
out=$("${R[@]}" exec fio-x sh -c 'cat /fio-h; echo; cat /fio-gone; echo; cat /fio-new 2>/dev/null || echo absent' 2>"$work/stderr")
rc=$?; err=$(cat "$work/stderr")
check "exec: the rootfs as the guest first sees it" test "$rc" = 0 -a "$out" = "$(printf 'old\ndoomed\nabsent')"
printf 'new content, longer than the old' > "$rfs/fio-h"
printf 'hello' > "$rfs/fio-new"
rm -f "$rfs/fio-gone"
out=$("${R[@]}" exec fio-x sh -c 'cat /fio-h; echo; cat /fio-new; echo; cat /fio-gone 2>/dev/null || echo gone' 2>"$work/stderr")
rc=$?; err=$(cat "$work/stderr")
check "exec after the host changed the rootfs (docker cp): new content and size, a new file, a removed one gone" \
	test "$rc" = 0 -a "$out" = "$(printf 'new content, longer than the old\nhello\ngone')"

# --- a reread is served from the guest's page cache --------------------------------------------
# Structural, not timed: reading the file the first time adds it to the guest's page cache
# (Cached in /proc/meminfo grows by about its size; with cache=mmap it does not grow), and
# reading it again adds nothing (it is all there). 16 MiB, in 4 KiB reads.
head -c 16777216 /dev/urandom > "$rfs/fio-big"
out=$("${R[@]}" exec fio-x sh -c 'c() { awk "/^Cached:/ { print \$2 }" /proc/meminfo; }; a=$(c); dd if=/fio-big of=/dev/null bs=4k 2>/dev/null; b=$(c); dd if=/fio-big of=/dev/null bs=4k 2>/dev/null; d=$(c); echo $((b - a)) $((d - b))' 2>"$work/stderr")
rc=$?; err=$(cat "$work/stderr")
first=${out%% *} again=${out##* }
if [ "$fio_cache" = loose ]; then
	check "the first read of a 16 MiB file fills the guest's page cache (>= 12 MiB more Cached), the reread adds < 2 MiB" \
		eval '[ "$rc" = 0 ] && [ "${first:-0}" -ge 12288 ] && [ "${again:-99999}" -lt 2048 ]'
	echo "# Cached: +$first kB on the first read, +$again kB on the reread"
else
	skip "a reread from the guest's page cache" "the $fio_backend backend's rootfs is uncached (its 9p server holds an fd per cached name)"
fi
"${R[@]}" kill fio-x KILL
wait_status fio-x >/dev/null
"${R[@]}" delete fio-x
out= err= rc=
check "fio-x deleted, nothing left" nothing_left fio-x

# --- bind mounts: shared live with the host (cache=mmap) ---------------------------------------
# One process (no exec in between, which would drop the guest's caches): it reads a file of the
# bind mount, writes one, waits for the host's `go` (a name the guest looked up before the host
# made it) and reads the file again, which the host has changed meanwhile.
bind=$work/fio-bind
rm -rf "$bind" && mkdir -p "$bind"
printf 'old' > "$bind/f"
cat >"$rfs/fio-b.sh" <<'EOF'
awk '$2 == "/" || $2 == "/b" { print $2, $4 }' /proc/mounts | sed -e 's/,.*\(loose\|mmap\).*/ \1/'
cat /b/f; echo
echo from-guest > /b/g
i=0
while [ ! -e /b/go ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
cat /b/f
EOF
create_bg fio-b '["sh","/fio-b.sh"]' \
	'c["mounts"].append({"destination": "/b", "type": "bind", "source": "'"$bind"'", "options": ["rbind"]})'
"${R[@]}" start fio-b
for _ in $(seq 300); do grep -q '^old$' "$work/fio-b.out" 2>/dev/null && break; sleep 0.1; done
guest_wrote=$(cat "$bind/g" 2>/dev/null)
printf 'new and longer' > "$bind/f"
: > "$bind/go"
status=$(wait_status fio-b)
out=$(cat "$work/fio-b.out"); err=$(cat "$work/fio-b.err"); rc=$status
mounts=$(grep '^/' "$work/fio-b.out" | sort | tr '\n' ' ')
check "the rootfs is mounted cache=$fio_cache (backend ${fio_backend:-?}), a bind mount cache=mmap" \
	test "$mounts" = "/ rw $fio_cache /b rw mmap "
check "a bind mount: the guest's write on the host at once, the host's change (content, size, a new name) seen by the running process" \
	eval '[ "$status" = 0 ] && [ "$guest_wrote" = from-guest ] && [ "$(tail -1 "$work/fio-b.out")" = "new and longer" ]'
"${R[@]}" delete fio-b 2>/dev/null
out= err= rc=
check "fio-b deleted, nothing left" nothing_left fio-b
rm -rf "$bind" "$rfs"/fio-*
