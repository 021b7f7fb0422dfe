# A hostile guest against the host's --root: through the bind mounts' share it may write only
# into the bind sources (where the container's own writes land under runc), never into --root,
# and a read-only bind is read-only on the host side, submounts included. Sourced by run.sh.

hs=$(mktemp -d /tmp/runvm-hs-XXXXXX)
undo+=("umount -l '$hs/ro/sub'; rm -rf '$hs'")
mkdir -p "$hs/data" "$hs/ro/sub"
echo "nameserver 192.0.2.1" >"$hs/resolv.conf"
echo "ro-file" >"$hs/ro/file"
# A submount in the read-only source: `ro` must reach it too (rbind,ro once reached only the top).
mount -t tmpfs -o size=1m hs-sub "$hs/ro/sub"
echo "sub-file" >"$hs/ro/sub/file"

# The guest's root outside the container, as a compromised guest has it: the container is a
# chroot in the agent's mount namespace (guest/agent/process.c), which a process with
# CAP_SYS_CHROOT leaves the classic way. There it finds the agent's mount of the share.
# tests/integration/escape-chroot.c, built here, or prebuilt where there is no compiler (the
# nested host VM: tests/nested/run.sh builds it).
if [ -x "$here/escape-chroot" ]; then
	cp "$here/escape-chroot" "$bundle/rootfs/bin/escape-chroot"
else
	cc -static -O2 -o "$bundle/rootfs/bin/escape-chroot" "$here/escape-chroot.c"
fi

# The binds Docker makes (resolv.conf as a file, a volume), plus a read-only one. The process
# leaves the container, finds the bind mounts' share (the agent's mount, /run/runvm-mounts) and
# tries to write at its root, above it (the guest's own /run: fine, but never in --root) and
# into the read-only source; back in the container it
# writes into its volume, deeply; it reports what it could do, then waits for the host's look
# at --root.
# One line: it travels in the environment.
hs_hostile='PATH=/rootfs/bin; s=/run/runvm-mounts; [ -d $s/6 ] || { echo no-share; exit 9; }; ls $s >/rootfs/data/listing;
for p in $s/planted $s/6/../planted-dotdot $s/8/x $s/8/sub/x; do touch $p 2>/dev/null && echo "wrote $p"; done;
touch $s/../planted-above;
mkdir $s/dir 2>/dev/null && echo "wrote $s/dir"; ln -s / $s/link 2>/dev/null && echo "wrote $s/link";
mv $s/7 $s/moved 2>/dev/null && echo "moved $s/7"; exit 0'
hs_hostile=$(tr '\n' ' ' <<<"$hs_hostile")
hs_script='
/bin/escape-chroot /rootfs/bin/sh -c "$HS_HOSTILE" || exit $?
touch /ro/x /ro/sub/x 2>/dev/null && echo "wrote the ro bind"
echo written-in-guest >>/etc/resolv.conf
d=/data/junk; i=0; while [ $i -lt 120 ]; do d=$d/d; i=$((i + 1)); done
mkdir -p "$d" && ln -s / "$d/root-link" && echo junk >"$d/f"
touch /data/done
while [ ! -e /data/go ]; do sleep 0.1; done
echo finished'
HS_HOSTILE=$hs_hostile make_config "$bundle" "$(python3 -c 'import json,sys; print(json.dumps(["sh","-c",sys.argv[1]]))' "$hs_script")" "
c['mounts'] += [
    {'destination': '/data', 'type': 'bind', 'source': '$hs/data', 'options': ['rbind', 'rw']},
    {'destination': '/etc/resolv.conf', 'type': 'bind', 'source': '$hs/resolv.conf', 'options': ['rbind', 'rw']},
    {'destination': '/ro', 'type': 'bind', 'source': '$hs/ro', 'options': ['rbind', 'ro']},
]
# mounts[6..8] are the binds: the share names them 6, 7, 8.
c['process']['env'].append('HS_HOSTILE=' + __import__('os').environ['HS_HOSTILE'])
"
"$RUNVM" --root "$root" run --bundle "$bundle" h-state </dev/null >"$work/hs.out" 2>"$work/hs.err" &
hs_pid=$!
for _ in $(seq 1200); do [ -e "$hs/data/done" ] && break; sleep 0.05; done
# Everything in --root while the guest runs: only what runvm itself made.
hs_root=$(cd "$root" && find ./h-state | sort | tr '\n' ' ')
touch "$hs/data/go"
timeout 60 tail --pid="$hs_pid" -f /dev/null
wait "$hs_pid"; rc=$?
out=$(cat "$work/hs.out"); err="$(cat "$work/hs.err"); --root held: $hs_root; share: $(cat "$hs/data/listing" 2>/dev/null | tr '\n' ' ')"
check "hostile guest: the share shows the bind sources only" eval '[ "$(cat "$hs/data/listing" 2>/dev/null | tr "\n" " ")" = "6 7 8 " ]'
check "hostile guest: nothing written at the share's root or above, nothing moved, the ro bind unwritable" \
	eval '[ "$rc" = 0 ] && [ "$out" = finished ]'
check "hostile guest: --root holds only runvm's own files while the guest runs" \
	eval '[ "$hs_root" = "./h-state ./h-state/console.log ./h-state/ctl.sock ./h-state/lock ./h-state/mounts ./h-state/state.json " ]'
check "hostile guest: the read-only source and its submount are untouched" \
	eval '[ "$(ls -A "$hs/ro")" = "$(printf "file\nsub")" ] && [ "$(ls -A "$hs/ro/sub")" = file ]'
check "hostile guest: a writable bind's writes land in its source (resolv.conf, the volume's deep junk)" \
	eval 'grep -q written-in-guest "$hs/resolv.conf" && [ "$(find "$hs/data/junk" -name f | wc -l)" = 1 ] && [ -L "$(find "$hs/data/junk" -name root-link)" ]'
check "hostile guest: after run nothing of it is left in --root" nothing_left h-state
rm -rf "$hs/data/junk" "$hs/data/done" "$hs/data/go" "$hs/data/listing"

# The same junk left by a created container: delete removes the state and succeeds; the junk
# stays in the volume's source only.
create_bg h-del "$(python3 -c 'import json,sys; print(json.dumps(["sh","-c",sys.argv[1]]))' \
	'd=/data/junk; i=0; while [ $i -lt 100 ]; do d=$d/d; i=$((i + 1)); done; mkdir -p "$d" && ln -s /data "$d/l" && touch /data/done')" "
c['mounts'] += [{'destination': '/data', 'type': 'bind', 'source': '$hs/data', 'options': ['rbind', 'rw']}]
"
"${R[@]}" start h-del; status=$(wait_status h-del)
"${R[@]}" delete h-del 2>"$work/stderr"; rc=$?; err=$(cat "$work/stderr") out="exit status $status"
check "hostile guest: delete after deep junk in a volume succeeds, nothing left, the junk only in the source" \
	eval '[ "$create_rc" = 0 ] && [ "$status" = 0 ] && [ "$rc" = 0 ] && nothing_left h-del && [ -e "$hs/data/done" ] && [ "$(find "$hs/data/junk" -type l | wc -l)" = 1 ]'
rm -f "$bundle/rootfs/bin/escape-chroot"
rm -rf "$bundle/rootfs/.escape"
umount -l "$hs/ro/sub" && rm -rf "$hs"
make_config "$bundle" '["true"]'
