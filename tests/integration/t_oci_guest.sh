# What config.json asks of the container's own environment, applied inside the guest as runc
# applies it on the host (issue #13 points 3-5): linux.devices, user namespaces with their
# maps and the ownership of files in the shared rootfs, mount propagation of bind mounts and of
# the rootfs. Each check runs the same bundle under runc (its own --root here) and runvm and
# compares what the container shows. Sourced by run.sh.

runc_root=$work/runc-state
undo+=("for id in \$(runc --root '$runc_root' list -q 2>/dev/null); do runc --root '$runc_root' delete -f \$id; done")
# rc ID: the bundle under runc; sets out, err, rc like rv.
rc_run() {
	out=$(runc --root "$runc_root" run --bundle "$bundle" "$1" </dev/null 2>"$work/stderr")
	rc=$?
	err=$(cat "$work/stderr")
	runc --root "$runc_root" delete -f "$1" 2>/dev/null
}
have_runc=$(command -v runc)

# --- linux.devices -------------------------------------------------------------------------
devs='c["linux"]["devices"] = [
 {"path": "/dev/foo", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 5, "gid": 6},
 {"path": "/dev/sub/blk", "type": "b", "major": 7, "minor": 200, "fileMode": 0o600},
 {"path": "/dev/fifo", "type": "p", "fileMode": 0o604, "uid": 7}]'
# Type and mode, owner, numbers: ls -ln without the date.
show_devs='["sh","-c","ls -ln /dev/foo /dev/sub/blk /dev/fifo | awk \"{print \\$1, \\$3, \\$4, \\$5, \\$6, \\$NF}\""]'
rv dev1 "$show_devs" "$devs"
dev_rv=$out
check "linux.devices: made in the guest's /dev with type, mode, owner and numbers" \
	eval '[ "$rc" = 0 ] && [[ "$out" == *"crw-r----- 5 6 1, 3 /dev/foo"* ]] && [[ "$out" == *"brw------- 0 0 7, 200 /dev/sub/blk"* ]] && [[ "$out" == "prw----r-- 7 0 0"*"/dev/fifo"* ]]'
if [ -n "$have_runc" ]; then
	rc_run dev1r
	check "linux.devices: the same under runc and runvm" eval '[ "$rc" = 0 ] && [ "$out" = "$dev_rv" ]'
else
	skip "linux.devices: the same under runc and runvm" "no runc"
fi
make_config "$bundle" '["true"]' 'c["linux"]["devices"] = [{"path": "/dev/x", "type": "q", "major": 1, "minor": 1}]'
expect_error "a device of type q" "linux.devices[0].type" gd1 "$RUNVM"

# --- linux.resources.devices: the device cgroup rules --------------------------------------
# Enforced by the guest kernel (a cgroup device program on the container's cgroup in the guest),
# with runc's default rules after the list as runc appends them: so /dev/zero is writable and
# /dev/urandom readable whatever the list says, and mknod of any device is allowed; what the
# list leaves out (kmsg, loop) is denied, and fuse only opens for reading. Each line: what was
# tried, then "ok" or the error. Nodes go on the container's /dev (a tmpfs).
dev_try='t() { n=$1; shift; if eval "$*" 2>/dev/err; then echo "$n ok"; else echo "$n $(sed "s/.*: //" /dev/err)"; fi; }
t null-r "head -c1 /dev/null"
t zero-r "head -c1 /dev/zero >/dev/null"
t zero-w "echo x >/dev/zero"
t urandom-r "head -c1 /dev/urandom >/dev/null"
t mknod-kmsg "mknod /dev/k c 1 11"
t kmsg-r "true </dev/k"
t mknod-fuse "mknod /dev/f c 10 229"
t fuse-r "true </dev/f"
t fuse-w "true >/dev/f"
t mknod-loop "mknod /dev/l b 7 0"
t loop-r "true </dev/l"'
dev_args=$(python3 -c 'import json, sys; print(json.dumps(["sh", "-c", sys.argv[1]]))' "$dev_try")
dev_caps='c["process"]["capabilities"] = {k: ["CAP_MKNOD"] for k in ("bounding", "effective", "permitted")}'
dev_rules="$dev_caps"'
c["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"},
 {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
 {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"},
 {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "r"}]}'
dev_want='null-r ok
zero-r ok
zero-w ok
urandom-r ok
mknod-kmsg ok
kmsg-r Operation not permitted
mknod-fuse ok
fuse-r ok
fuse-w Operation not permitted
mknod-loop ok
loop-r Operation not permitted'
rv dcg1 "$dev_args" "$dev_rules"
dcg_rv=$out
check "linux.resources.devices: the guest kernel allows and denies each device as the rules say" \
	eval '[ "$rc" = 0 ] && [ "$out" = "$dev_want" ]'
if [ -n "$have_runc" ]; then
	rc_run dcg1r
	out="runc: $out / runvm: $dcg_rv"
	check "linux.resources.devices: the same outcomes under runc and runvm" \
		eval '[ "$rc" = 0 ] && [ "$out" = "runc: $dcg_rv / runvm: $dcg_rv" ]'
else
	skip "linux.resources.devices: the same outcomes under runc and runvm" "no runc"
fi
# No rules: no device program, every device usable (what is left is the guest's drivers: no
# loop driver, so ENXIO, never EPERM).
rv dcg2 "$dev_args" "$dev_caps"
check "no linux.resources.devices: no device is denied in the guest" \
	eval '[ "$rc" = 0 ] && [[ "$out" == *"fuse-w ok"* ]] && [[ "$out" == *"kmsg-r ok"* ]] && [[ "$out" != *"not permitted"* ]]'
make_config "$bundle" '["true"]' 'c["linux"]["resources"] = {"devices": [{"type": "c", "access": "r"}]}'
expect_error "a device rule without allow" "linux.resources.devices[0].allow" gdc1 "$RUNVM"
make_config "$bundle" '["true"]' 'c["linux"]["resources"] = {"devices": [{"allow": True, "access": "rwx"}]}'
expect_error "a device rule with access x" "linux.resources.devices[0].access" gdc2 "$RUNVM"

# --- process.capabilities: ambient ---------------------------------------------------------
# The kernel raises an ambient capability only if it is also permitted and inheritable; runc
# goes on without the others. buildah (issue #15: `buildah bud --isolation oci`) lists its caps
# as bounding, effective, permitted and ambient but not inheritable, so this is every buildah
# RUN step. Compared with runc: the five Cap* lines of /proc/self/status.
show_caps='["sh","-c","grep ^Cap /proc/self/status"]'
caps_sets='for k, v in (("bounding", bset), ("effective", bset), ("permitted", bset), ("ambient", amb), ("inheritable", inh)): c["process"]["capabilities"][k] = v'
for amb_case in "no-inh:inh = []" "inh:inh = [\"CAP_KILL\", \"CAP_CHOWN\"]"; do
	name=${amb_case%%:*}
	py='bset = ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_CHROOT"]; amb = bset; '"${amb_case#*:}"'
c["process"]["capabilities"] = {}
'"$caps_sets"
	rv amb-$name "$show_caps" "$py"
	amb_rv=$out rc_rv=$rc
	if [ "$name" = no-inh ]; then
		check "ambient capabilities with no inheritable set (as buildah asks): the container runs, none raised" \
			eval '[ "$rc" = 0 ] && [[ "$out" == *"CapAmb:	0000000000000000"* ]] && [[ "$out" == *"CapEff:	0000000000040021"* ]]'
	else
		check "ambient capabilities also inheritable: raised (CHOWN, KILL)" \
			eval '[ "$rc" = 0 ] && [[ "$out" == *"CapAmb:	0000000000000021"* ]]'
	fi
	if [ -n "$have_runc" ]; then
		rc_run amb-$name-r
		amb_rc=$out
		out="runc rc=$rc: $amb_rc / runvm rc=$rc_rv: $amb_rv"
		check "ambient capabilities ($name): the same Cap lines under runc and runvm" \
			eval '[ "$rc" = 0 ] && [ "$rc_rv" = 0 ] && [ "$amb_rc" = "$amb_rv" ]'
	else
		skip "ambient capabilities ($name): the same Cap lines under runc and runvm" "no runc"
	fi
done

# --- user namespaces -----------------------------------------------------------------------
userns='c["linux"]["namespaces"].append({"type": "user"})
c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]'
touch "$bundle/rootfs/etc/owned" && chown 100005:200006 "$bundle/rootfs/etc/owned"
undo+=("rm -f '$bundle/rootfs/etc/owned' '$bundle/rootfs/tmp/made-rv' '$bundle/rootfs/tmp/made-rc'")
show_userns() { echo '["sh","-c","cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c %u:%g /etc/owned; touch /tmp/made-'$1'"]'; }
rv us1 "$(show_userns rv)" "$userns"
us_rv=$out made_rv=$(stat -c %u:%g "$bundle/rootfs/tmp/made-rv" 2>&1)
check "user namespace: the container's uid_map and gid_map show the mapping" \
	eval '[ "$rc" = 0 ] && [ "$(echo $out | cut -d" " -f1-6)" = "0 100000 65536 0 200000 65536" ]'
out="$out / host: $made_rv"
check "user namespace: host uid 100005 is 5 inside; a file root makes is the mapped host uid's" \
	eval '[[ "$us_rv" == *"5:6"* ]] && [ "$made_rv" = 100000:200000 ]'
if [ -n "$have_runc" ]; then
	make_config "$bundle" "$(show_userns rc)" "$userns"
	# runc's root in the namespace (host uid 100000) must reach the rootfs: the work dir is 0700.
	chmod 711 "$work"
	rc_run us2r
	chmod 700 "$work"
	made_rc=$(stat -c %u:%g "$bundle/rootfs/tmp/made-rc" 2>&1)
	out="$out / runvm: $us_rv / host: runc $made_rc runvm $made_rv"
	check "user namespace: the same under runc and runvm (maps, ownership both ways)" \
		eval '[ "$rc" = 0 ] && [ "$(echo $out | cut -d/ -f1)" = "$(echo $us_rv) " ] && [ "$made_rc" = "$made_rv" ]'
else
	skip "user namespace: the same under runc and runvm (maps, ownership both ways)" "no runc"
fi
rm -f "$bundle/rootfs/etc/owned" "$bundle/rootfs/tmp/made-rv" "$bundle/rootfs/tmp/made-rc"
make_config "$bundle" '["true"]' 'c["linux"]["namespaces"].append({"type": "user"})'
expect_error "a user namespace without maps (runc's words)" "no uid mappings found" gu1 "$RUNVM"
make_config "$bundle" '["true"]' 'c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]'
expect_error "maps without a user namespace (runc's words)" "user namespaces not enabled" gu2 "$RUNVM"

# --- mount propagation ---------------------------------------------------------------------
# As on a systemd host (and as the agent makes the guest's): the bind source and the rootfs
# are shared mounts; the test makes them so, and takes them down again.
props="shared rshared slave rslave private rprivate unbindable runbindable"
src=$work/prop-src
mkdir -p "$src"
undo+=("umount -l '$src' '$bundle/rootfs'")
mount --bind "$src" "$src" && mount --make-shared "$src" && mount --bind "$bundle/rootfs" "$bundle/rootfs" &&
	mount --make-shared "$bundle/rootfs"
binds='c["mounts"] += [{"destination": "/m/" + p, "type": "bind", "source": "'$src'", "options": ["rbind"] + ([p] if p != "none" else [])} for p in "none '"$props"'".split()]'
# The optional fields of /proc/self/mountinfo, numbers dropped, of / and of each /m/*.
cat > "$bundle/rootfs/bin/propfields" <<'SH'
#!/bin/sh
awk '$5 == "/" || $5 ~ /^\/m\// { s = $5 ":"; for (i = 7; $i != "-"; i++) { f = $i; sub(/:[0-9]+/, "", f); s = s " " f }; print s }' /proc/self/mountinfo
SH
chmod +x "$bundle/rootfs/bin/propfields"
undo+=("rm -f '$bundle/rootfs/bin/propfields'")
show_prop='["propfields"]'
rv pr1 "$show_prop" "$binds"
pr_rv=$out
check "bind propagation: rshared shows shared and master (of the guest's share)" \
	eval '[ "$rc" = 0 ] && [[ "$out" == *"/m/rshared: shared master"* ]] && [[ "$out" == *"/m/unbindable: unbindable"* ]]'
if [ -n "$have_runc" ]; then
	rc_run pr1r
	check "bind propagation: each option shows the same fields under runc and runvm" eval '[ "$rc" = 0 ] && [ "$out" = "$pr_rv" ]'
else
	skip "bind propagation: each option shows the same fields under runc and runvm" "no runc"
fi
for p in $props; do
	rv prr-$p "$show_prop" "$binds"'
c["linux"]["rootfsPropagation"] = "'$p'"'
	pr_rv=$out rc_rv=$rc
	if [ -z "$have_runc" ]; then
		skip "rootfsPropagation $p: as under runc" "no runc"
		continue
	fi
	rc_run prr-$p-r
	pr_rc=$out
	out="runc rc=$rc: $pr_rc / runvm rc=$rc_rv: $pr_rv"
	# runbindable: runc cannot bind the rootfs onto itself, nor can runvm.
	if [ "$p" = runbindable ]; then
		check "rootfsPropagation $p: refused by both" eval '[ "$rc" != 0 ] && [ "$rc_rv" != 0 ]'
	else
		check "rootfsPropagation $p: the same fields for / and the binds under runc and runvm" \
			eval '[ "$rc" = 0 ] && [ "$rc_rv" = 0 ] && [ "$pr_rc" = "$pr_rv" ]'
	fi
done
umount "$bundle/rootfs" "$src"
rmdir "$src"
rm -f "$bundle/rootfs/bin/propfields"
make_config "$bundle" '["true"]' 'c["linux"]["rootfsPropagation"] = "sideways"'
expect_error "an unknown rootfsPropagation (runc's words)" "rootfsPropagation=sideways is not supported" gp1 "$RUNVM"
