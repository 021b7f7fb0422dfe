# VM templates (sourced by run.sh): made on first use, restored after, each clone its own machine
# (entropy, clock, MAC, hostname), a corrupt template discarded and made again, never restored,
# `runvm template create|list|rm`, `template = false` cold, and a template boot whose agent is
# hostile falling back to a cold boot. Its own template directory, so that the first run
# really is the first.

tt_backend=$("$RUNVM" check 2>/dev/null | sed -n 's/^run would use *backend \([^,]*\),.*/\1/p')
tt_dir=$work/tmpl
tt_conf=$work/template.conf
sed -e "/^template *=/d" -e "/^template_dir *=/d" -e "s|^\[runvm\]\$|[runvm]\ntemplate = true\ntemplate_dir = $tt_dir|" \
	"$RUNVM_CONFIG" >"$tt_conf"
# tt ID JSON_ARGS [PY] [runvm-args...]: rv with the test's configuration and --debug.
tt() {
	local id=$1 args=$2 py=${3:-}
	shift 3 2>/dev/null || shift $#
	RUNVM_CONFIG=$tt_conf rv "$id" "$args" "$py" --debug "$@"
}
tt_count() { RUNVM_CONFIG=$tt_conf "$RUNVM" template list | tail -n +2 | grep -c "^$tt_backend-"; }
tt_states() { ls "$tt_dir/$tt_backend"-*/state 2>/dev/null; }

if [ "$tt_backend" != qemu ] && [ "$tt_backend" != kvm ]; then
	for t in "made on first use" "restored" "clones differ" "clock" "own MAC and hostname" "corrupt state" \
		"corrupt meta" "template = false" "shape" "create" "rm" "hostile template boot" "stale template" "aarch64 guest"; do
		skip "template: $t" "the suite's backend is ${tt_backend:-unknown}, which has no templates"
	done
else
	tt t1 '["echo","hi"]'
	check "template: made on first use, then restored: the container runs" \
		eval '[ "$rc" = 0 ] && [ "$out" = hi ] && [[ "$err" == *"made in"* ]] && [[ "$err" == *": restored"* ]] &&
			[ "$(tt_count)" = 1 ] && nothing_left t1'
	tt t2 '["echo","hi"]'
	check "template: the next container of that shape is restored, nothing made" \
		eval '[ "$rc" = 0 ] && [ "$out" = hi ] && [[ "$err" != *"made in"* ]] && [[ "$err" == *"VM launched from its template"* ]]'

	tt c1 '["sh","-c","cat /proc/sys/kernel/random/uuid; head -c 16 /dev/urandom | od -An -tx1 | tr -d \" \\n\"; echo; date +%s"]'
	c1=$out
	# A clone that kept the template's clock would be as far behind as the template is old:
	# at least 6 s, so the clock check below cannot pass by the template being fresh.
	tt_age=$(($(date +%s) - $(stat -c %Y "$(tt_states | head -1)")))
	[ "$tt_age" -lt 6 ] && sleep $((6 - tt_age))
	tt c2 '["sh","-c","cat /proc/sys/kernel/random/uuid; head -c 16 /dev/urandom | od -An -tx1 | tr -d \" \\n\"; echo; date +%s"]'
	c2=$out now=$(date +%s)
	out="c1: $c1 / c2: $c2"
	check "template: two clones read different uuids and /dev/urandom bytes (the CRNG reseeded from the host)" \
		eval '[ "$(sed -n 1p <<<"$c1")" != "$(sed -n 1p <<<"$c2")" ] && [ "$(sed -n 2p <<<"$c1")" != "$(sed -n 2p <<<"$c2")" ] &&
			[ "$(sed -n 2p <<<"$c2" | wc -c)" = 33 ] && [[ "$err" == *"from its template"* ]]'
	t2s=$(sed -n 3p <<<"$c2")
	check "template: a clone's clock is the host's, not the template's" \
		eval '[ -n "$t2s" ] && [ $((now - t2s)) -ge 0 ] && [ $((now - t2s)) -le 3 ]'

	# Two network namespaces with a veth each, as Docker makes them, with MACs of their own.
	tt_ok=
	for n in 1 2; do
		if ip netns add "rvtt$$-$n" 2>/dev/null; then
			undo+=("ip netns del rvtt$$-$n" "ip link del rvtt$$h$n")
			ip link add "rvtt$$h$n" type veth peer name eth0 netns "rvtt$$-$n" &&
				ip -n "rvtt$$-$n" link set eth0 address "02:42:ac:11:00:1$n" &&
				ip -n "rvtt$$-$n" addr add "10.215.0.$n/24" dev eth0 && ip -n "rvtt$$-$n" link set eth0 up &&
				ip link set "rvtt$$h$n" up && tt_ok=$tt_ok$n
		fi
	done
	if [ "$tt_ok" != 12 ]; then
		skip "template: own MAC and hostname" "cannot make network namespaces with a veth here"
	else
		macs=
		for n in 1 2; do
			tt "m$n" '["sh","-c","cat /sys/class/net/eth0/address; hostname"]' \
				'c["hostname"] = "clone'$n'"; c["linux"]["namespaces"] = [{"type": t} for t in ("pid", "ipc", "uts", "mount")] + [{"type": "network", "path": "/var/run/netns/rvtt'$$'-'$n'"}]'
			macs="$macs$(tr '\n' ' ' <<<"$out")"
			[[ "$err" == *"from its template"* ]] || macs="$macs(cold) "
		done
		out=$macs
		check "template: clones of one template take their own MAC and hostname" \
			test "$macs" = "02:42:ac:11:00:11 clone1 02:42:ac:11:00:12 clone2 "
	fi

	# The kvm backend's clones map the template's memory file copy-on-write: two clones running
	# share its pages (Shared_Clean, or Shared_Dirty where the template is on a tmpfs, whose
	# pages are always dirty, in the first one's mapping of it), and neither writes it
	# (its identity is unchanged: the next restore below finds it sound).
	if [ "$tt_backend" = kvm ]; then
		# --debug, as tt gives it: it shapes the kernel command line, so the same template.
		R+=(--debug)
		for n in 1 2; do
			RUNVM_CONFIG=$tt_conf create_bg "ms$n" '["sleep","600"]'
			"${R[@]}" start "ms$n" >/dev/null 2>&1
			eval "ms_mon$n=\$mon_pid"
		done
		unset 'R[${#R[@]}-1]'
		sleep 2
		# mem_map PID: the VMM's mapping of a template's memory, its Rss and shared and dirty pages.
		mem_map() {
			awk '/kvm-[0-9a-f]+\/memory/ { m = 1; print; next } /^[0-9a-f]+-/ { m = 0 } m && /^(Rss|Shared_Clean|Shared_Dirty|Private_Clean|Private_Dirty):/' \
				"/proc/$(pgrep -P "$1" 2>/dev/null | head -1)/smaps" 2>/dev/null
		}
		out="$(mem_map "$ms_mon1") / $(mem_map "$ms_mon2") / $("${R[@]}" state ms2 2>&1 | grep status)" rc=0
		err="$(cat "$work/ms1.err" "$work/ms2.err" 2>/dev/null | grep -i 'template' | head -c 600)"
		ms_shared=$(mem_map "$ms_mon1" | awk '/^Shared_(Clean|Dirty):/ { n += $2 } END { print n + 0 }')
		check "template: two kvm clones share the template's memory (mapped private, ${ms_shared:-0} kB of it shared)" \
			eval '[[ "$out" == *" rw-p "*" rw-p "* ]] && [ "${ms_shared:-0}" -ge 1024 ]'
		for n in 1 2; do "${R[@]}" delete -f "ms$n" >/dev/null 2>&1; done
		tt mf '["echo","ok"]'
		check "template: the clones left the template's memory file as it was" \
			eval '[ "$rc" = 0 ] && [[ "$err" == *": restored"* ]] && [[ "$err" != *unsound* ]]'
		# Its memory file written to: found by its identity, discarded and made again.
		mem=$(dirname "$(tt_states | head -1)")/memory
		python3 -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(1 << 20); b = f.read(1); f.seek(1 << 20); f.write(bytes([b[0] ^ 1]))' "$mem"
		tt mc '["echo","ok"]'
		out="$out, $(tt_count) template(s)"
		check "template: a memory file changed after it was made is found, discarded and made again" \
			eval '[ "$rc" = 0 ] && [ "${out%%,*}" = ok ] && [[ "$err" == *"unsound (the memory file changed"* ]] && [[ "$err" == *"made in"* ]] &&
				[[ "$err" == *": restored"* ]] && [ "$(tt_count)" = 1 ] && nothing_left mc'
	else
		for t in "two clones share the template's memory" "the clones left the memory file as it was" "memory file changed"; do
			skip "template: $t" "the qemu backend's clones load the template from a pipe (QEMU 7.2 maps no file privately without opening it for writing)"
		done
	fi

	# One byte of the saved state flipped: its hash is checked before any of it runs (QEMU's
	# feeder holds the stream's end back until it is; the kvm backend hashes it first).
	state=$(tt_states | head -1)
	python3 -c 'import os, sys; f = open(sys.argv[1], "r+b"); o = min(4 << 20, os.path.getsize(sys.argv[1]) // 2); f.seek(o); b = f.read(1); f.seek(o); f.write(bytes([b[0] ^ 1]))' "$state"
	tt k1 '["echo","ok"]'
	check "template: a corrupt state is found, discarded and made again, the container runs restored" \
		eval '[ "$rc" = 0 ] && [ "$out" = ok ] && [[ "$err" == *"unsound (its state is corrupt"* ]] && [[ "$err" == *"made in"* ]] &&
			[[ "$err" == *": restored"* ]] && [ "$(tt_count)" = 1 ] && nothing_left k1'
	echo 'not json' >"$(dirname "$(tt_states | head -1)")/meta.json"
	tt k2 '["echo","ok"]'
	check "template: a garbled meta.json is found and the template made again" \
		eval '[ "$rc" = 0 ] && [ "$out" = ok ] && [[ "$err" == *"unsound (meta.json"* ]] && [[ "$err" == *"made in"* ]]'

	sed -i 's/^template = true$/template = false/' "$tt_conf"
	tt o1 '["echo","ok"]'
	check "template: template = false boots cold and says so under --debug" \
		eval '[ "$rc" = 0 ] && [ "$out" = ok ] && [[ "$err" == *"template: off in the configuration: booting cold"* ]] &&
			[[ "$err" != *"from its template"* ]]'
	sed -i 's/^template = false$/template = true/' "$tt_conf"

	tt s1 '["echo","ok"]' 'c["linux"]["resources"] = {"memory": {"limit": 200 << 20}}'
	check "template: a VM of another shape (memory) gets a template of its own" \
		eval '[ "$rc" = 0 ] && [[ "$err" == *"made in"* ]] && [ "$(tt_count)" = 2 ]'

	out=$(RUNVM_CONFIG=$tt_conf "$RUNVM" template rm --all 2>&1) rc=$? err=
	check "template: rm --all leaves none" \
		eval '[ "$rc" = 0 ] && [ "$(tt_count)" = 0 ] && [ -z "$(tt_states)" ] && [ -z "$(ls "$tt_dir" | grep "^$tt_backend-")" ]'
	out=$(RUNVM_CONFIG=$tt_conf "$RUNVM" template rm ../etc 2>&1) rc=$?
	check "template: rm refuses what is not a template's name" eval '[ "$rc" = 1 ] && [[ "$out" == *"not a template"* ]]'

	make_config "$bundle" '["true"]'
	# --debug: it shapes the kernel command line (no "quiet"), as it does the containers'.
	out=$(RUNVM_CONFIG=$tt_conf "$RUNVM" --debug template create --bundle "$bundle" 2>/dev/null) rc=$?
	out2=$(RUNVM_CONFIG=$tt_conf "$RUNVM" --debug template create --bundle "$bundle" 2>/dev/null)
	made="$rc: $out / $out2"
	tt r1 '["echo","ok"]'
	out="$made / $out"
	check "template: create makes it ahead of time (once), the container is restored without making one" \
		eval '[[ "$made" == "0: "*": made in"*"already there"* ]] && [ "$rc" = 0 ] && [[ "$err" == *": restored"* ]] &&
			[[ "$err" != *"made in"* ]]'

	# The fault initramfs in its "random" mode: random bytes instead of HELLO. The template's
	# boot fails on them, the cold boot after it fails the same way, with the cold boot's error.
	fault_initrd=$(dirname "$RUNVM")/faults/initramfs.cpio
	if [ ! -e "$fault_initrd" ]; then
		skip "template: hostile template boot" "no $fault_initrd (make check-integration builds it)"
	else
		sed -e "s|^initrd = .*|initrd = $fault_initrd|" -e "s|^\[runvm\]\$|[runvm]\nboot_timeout_s = 20\nkernel_cmdline = runvm_fault=random|" \
			"$tt_conf" >"$work/template-random.conf"
		make_config "$bundle" '["true"]'
		RUNVM_CONFIG=$work/template-random.conf timeout 120 "$RUNVM" --root "$root" --debug run --bundle "$bundle" h1 \
			</dev/null >"$work/stdout" 2>"$work/stderr"
		rc=$? out=$(cat "$work/stdout") err=$(cat "$work/stderr")
		check "template: a template boot whose agent sends garbage is not saved; the cold boot after it fails clearly" \
			eval '[ "$rc" = 1 ] && [[ "$err" == *"cannot make it (the template'"'"'s agent sent"* ]] &&
				[[ "$err" == *"agent protocol error"* ]] && [ -z "$(ls -d "$tt_dir/.$tt_backend"-* 2>/dev/null)" ] &&
				nothing_left h1'
	fi

	# A rebuilt initrd (the same path, another file) makes the old template stale: the next
	# container makes a new one, and the stale one is removed.
	RUNVM_CONFIG=$tt_conf "$RUNVM" template rm --all
	tt_initrd=$work/tt-initrd.cpio
	cp "$(sed -n 's/^initrd = //p' "$tt_conf")" "$tt_initrd"
	sed -e "s|^initrd = .*|initrd = $tt_initrd|" "$tt_conf" >"$work/template-stale.conf"
	make_config "$bundle" '["true"]'
	RUNVM_CONFIG=$work/template-stale.conf "$RUNVM" --root "$root" run --bundle "$bundle" st1 </dev/null >/dev/null 2>&1
	old=$(tt_count) old_name=$(cd "$tt_dir" && ls -d "$tt_backend"-* | grep -v '\.lock$')
	python3 -c 'import os, sys, time; t = time.time() - 60; os.utime(sys.argv[1], (t, t))' "$tt_initrd"
	RUNVM_CONFIG=$work/template-stale.conf "$RUNVM" --root "$root" --debug run --bundle "$bundle" st2 </dev/null \
		>"$work/stdout" 2>"$work/stderr"
	rc=$? out=$(cat "$work/stdout") err=$(cat "$work/stderr")
	check "template: a changed initrd makes a new template and the stale one is removed" \
		eval '[ "$rc" = 0 ] && [ "$old" = 1 ] && [[ "$err" == *"made in"* ]] && [[ "$err" == *"stale ("* ]] &&
			[ "$(tt_count)" = 1 ] && [ ! -e "$tt_dir/$old_name" ] && [ ! -e "$tt_dir/$old_name.lock" ]'

	# An aarch64 guest (virt under TCG here) has a template of its own, made and then restored.
	tt_arm=$work/tmpl-arm64
	if [ "$tt_backend" = kvm ]; then
		skip "template: aarch64 guest" "the kvm backend runs guests of the host's architecture only"
	elif ! make_rootfs "$tt_arm/rootfs" arm64 2>"$work/tt-arm64.err"; then
		skip "template: aarch64 guest" "$(cat "$work/tt-arm64.err")"
	else
		for n in 1 2; do
			make_config "$tt_arm" '["uname","-m"]'
			RUNVM_CONFIG=$tt_conf "$RUNVM" --root "$root" --debug run --bundle "$tt_arm" "arm$n" </dev/null \
				>"$work/stdout" 2>"$work/stderr"
			rc=$? out=$(cat "$work/stdout") err=$(cat "$work/stderr")
			[ "$n" = 1 ] && made=$err
		done
		out="$out / $made"
		check "template: an aarch64 guest gets its own template, made on first use and restored after" \
			eval '[ "$rc" = 0 ] && [ "$out" = "aarch64 / $made" ] && [[ "$made" == *"made in"* ]] &&
				[[ "$err" == *"VM launched from its template"* ]] && [[ "$err" != *"made in"* ]] && nothing_left arm2'
	fi
fi
