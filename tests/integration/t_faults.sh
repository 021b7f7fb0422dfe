# Fault tests (issue #12): a guest flooding its console, an agent silent after RUN, a stdout
# reader that never reads, QEMU SIGKILLed, the monitor out of fds, an agent that never says
# HELLO, an agent silent after start, a hostile agent (frames out of order, oversized, random
# bytes), a guest kernel panic after start, the monitor SIGKILLed (after create, while running),
# --root on a full filesystem, a guest filling a share. Each ends with the container stopped (or the verb
# failing clearly), `delete` succeeding or the container already torn down, and nothing left
# (no monitor, no VMM, no state directory). Sourced by run.sh. The broken guests come from
# tests/faults/fault-init.c, built next to runvm by `make check-integration`.

fault_initrd=$(dirname "$RUNVM")/faults/initramfs.cpio

# fault_conf MODE BOOT_TIMEOUT_S: a configuration booting the fault initramfs in MODE.
fault_conf() {
	sed -e "s|^initrd = .*|initrd = $fault_initrd|" \
		-e "s|^\[runvm\]\$|[runvm]\nboot_timeout_s = $2\nkernel_cmdline = runvm_fault=$1|" \
		"$RUNVM_CONFIG" >"$work/fault-$1.conf"
	echo "$work/fault-$1.conf"
}

# gone ID: nothing of the container is left, its monitor ($mon_pid) included.
gone() { nothing_left "$1" && { [ -z "$mon_pid" ] || ! kill -0 "$mon_pid" 2>/dev/null; }; }

if [ ! -e "$fault_initrd" ]; then
	for t in "console flood: bounded log" "console flood: escaped tail" "silent agent: start" "silent agent: kill" \
		"silent agent: delete --force"; do
		skip "$t" "no $fault_initrd (make check-integration builds it)"
	done
else
	# --- a guest flooding the console: the log stays bounded, its tail is escaped -------------
	conf=$(fault_conf flood 40)
	make_config "$bundle" '["true"]'
	rm -f "$work/console-sizes"
	(while :; do stat -c %s "$root/fl1/console.log" >>"$work/console-sizes" 2>/dev/null; sleep 0.2; done) &
	sampler=$!
	RUNVM_CONFIG=$conf timeout 120 "${R[@]}" create --bundle "$bundle" fl1 </dev/null >/dev/null 2>"$work/stderr"
	rc=$?
	kill "$sampler"
	wait "$sampler" 2>/dev/null
	err=$(cat "$work/stderr")
	max=$(sort -n "$work/console-sizes" 2>/dev/null | tail -1)
	out="largest console.log seen: ${max:-none} bytes" mon_pid=
	flood_tail_ok() {
		# fault-init writes 3 MiB of junk, then "FLOOD-DONE ESC[2J \xc3( end".
		[ "$rc" = 1 ] && [[ "$err" == *'(guest console: FLOOD-DONE \x1b[2J\xc3( end)'* ]] &&
			! grep -q $'\x1b' "$work/stderr" && [ "$(wc -c <"$work/stderr")" -lt 1000 ]
	}
	check "a guest writing 3 MiB to its console: the log never passes 2 MiB" \
		eval '[ -n "$max" ] && [ "$max" -gt 0 ] && [ "$max" -lt 2097152 ]'
	check "... create fails with the console's newest line, escaped and short, and nothing is left" \
		eval 'flood_tail_ok && gone fl1'

	# --- an agent silent after RUN (HELLO, then nothing) ---------------------------------------
	conf=$(fault_conf silent 8)
	RUNVM_CONFIG=$conf create_bg sl1 '["true"]'
	t0=$(date +%s)
	RUNVM_CONFIG=$conf timeout 60 "${R[@]}" start sl1 2>"$work/stderr"
	rc=$? took=$(($(date +%s) - t0)) err=$(cat "$work/stderr") out="start took $took s"
	status=$(wait_status sl1)
	check "an agent silent after RUN: start gives up after its deadline with a clear error, nothing left" \
		eval '[ "$create_rc" = 0 ] && [ "$rc" = 1 ] && [ "$took" -lt 30 ] &&
			[[ "$err" == *"did not start the container'"'"'s process within 8 s"* ]] && gone sl1'

	# kill while `start` waits: the lock is free, the monitor answers, the container ends.
	RUNVM_CONFIG=$conf create_bg sl2 '["true"]'
	RUNVM_CONFIG=$conf timeout 60 "${R[@]}" start sl2 2>"$work/sl2.start" &
	start_pid=$!
	sleep 1
	timeout 10 "${R[@]}" kill sl2 KILL 2>"$work/stderr"
	rc=$? err=$(cat "$work/stderr")
	status=$(wait_status sl2)
	wait "$start_pid"
	src=$? out="kill rc $rc, start rc $src: $(cat "$work/sl2.start"), monitor status $status"
	"${R[@]}" delete --force sl2 2>/dev/null
	# The monitor ends with 137, unless the failed start's teardown SIGKILLs it first (-9).
	check "... kill while start waits: answered at once, the container ends, start fails, nothing left" \
		eval '[ "$rc" = 0 ] && [ -n "$status" ] && [ "$src" = 1 ] && [ -s "$work/sl2.start" ] && gone sl2'

	RUNVM_CONFIG=$conf create_bg sl3 '["true"]'
	RUNVM_CONFIG=$conf timeout 60 "${R[@]}" start sl3 2>"$work/sl3.start" &
	start_pid=$!
	sleep 1
	timeout 15 "${R[@]}" delete --force sl3 2>"$work/stderr"
	rc=$? err=$(cat "$work/stderr")
	wait "$start_pid"
	src=$? out="delete rc $rc, start rc $src: $(cat "$work/sl3.start")"
	check "... delete --force while start waits: succeeds, start fails clearly, nothing left" \
		eval '[ "$rc" = 0 ] && [ "$src" = 1 ] && [ -s "$work/sl3.start" ] && gone sl3'
fi

# --- a stdout reader that never reads: the monitor still serves kill -------------------------
# The reader is this shell, holding the FIFO open without reading it: the container's output
# fills the pipe, then the monitor's bounded queue, then the guest waits.
mkfifo "$work/stall.fifo"
exec 7<>"$work/stall.fifo"
make_config "$bundle" '["sh","-c","while :; do echo flood-flood-flood-flood-flood-flood-flood-flood; done"]'
rm -f "$work/st1.status" "$work/st1.status.create"
python3 "$here/subreaper.py" "$work/st1.status" -- "${R[@]}" create --bundle "$bundle" --pid-file "$work/st1.pid" st1 \
	</dev/null >"$work/stall.fifo" 2>"$work/st1.err" &
for _ in $(seq 1200); do [ -e "$work/st1.status.create" ] && break; sleep 0.05; done
mon_pid=$(cat "$work/st1.pid" 2>/dev/null)
timeout 30 "${R[@]}" start st1
src=$?
sleep 3
rss=$(awk '/VmRSS/ {print $2}' "/proc/$mon_pid/status" 2>/dev/null)
t0=$(date +%s)
timeout 15 "${R[@]}" kill st1 KILL 2>"$work/stderr"
rc=$? took=$(($(date +%s) - t0)) err=$(cat "$work/stderr")
status=$(wait_status st1)
st=$(status_of st1)
"${R[@]}" delete st1 2>>"$work/stderr"
drc=$?
exec 7>&-
out="start rc $src; kill rc $rc in $took s; monitor status $status, state $st; delete rc $drc; monitor RSS ${rss:-?} kB"
check "a stdout reader that never reads: kill is answered, the container ends (137, stopped), delete succeeds, nothing left" \
	eval '[ "$src" = 0 ] && [ "$rc" = 0 ] && [ "$took" -lt 5 ] && [ "$status" = 137 ] && [ "$st" = stopped ] &&
		[ "$drc" = 0 ] && gone st1'
check "... while the reader stalls, the monitor's memory stays bounded (under 64 MiB)" \
	eval '[ -n "$rss" ] && [ "$rss" -lt 65536 ]'

# --- QEMU SIGKILLed while the container runs ----------------------------------------------
create_bg qk1 '["sleep","600"]'
"${R[@]}" start qk1
qemu_pid=$(pgrep -f -- "$bundle/rootfs" | grep -vx "$mon_pid" | head -1)
if [ -z "$qemu_pid" ] || [ "$(cat "/proc/$qemu_pid/comm" 2>/dev/null)" = runvm ]; then
	skip "QEMU SIGKILLed while running" "no QEMU process (the kvm backend runs its VMM in the monitor)"
	"${R[@]}" delete --force qk1
else
	kill -KILL "$qemu_pid"
	status=$(wait_status qk1)
	st=$(status_of qk1)
	"${R[@]}" delete qk1 2>"$work/stderr"
	rc=$? err=$(cat "$work/stderr") out="monitor status $status, state $st"
	check "QEMU SIGKILLed while running: the container reports stopped, delete succeeds, nothing left" \
		eval '[ -n "$status" ] && [ "$status" != 0 ] && [ "$st" = stopped ] && [ "$rc" = 0 ] && gone qk1'
fi


# --- the monitor out of fds (a guest can hold many through 9p fids): it still serves kill -----
# RLIMIT_NOFILE just above the monitor's fds below 100, and idle control connections (which it
# accepts and keeps) in every free number below that: nothing more can be opened or accepted,
# short of the monitor giving up its reserve fd. Lifted before the end, which needs fds.
create_bg fd1 '["sleep","600"]'
"${R[@]}" start fd1
limit=$(ls "/proc/$mon_pid/fd" | awk '$1 < 100' | sort -n | tail -1)
limit=$((limit + 1))
holes=$((limit - $(ls "/proc/$mon_pid/fd" | awk -v l="$limit" '$1 < l' | wc -l)))
prlimit --pid "$mon_pid" --nofile="$limit:$limit"
python3 -c '
import socket, sys, time
held = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(sys.argv[1])
    held.append(s)
time.sleep(600)' "$root/fd1/ctl.sock" "$holes" &
holder=$!
for _ in $(seq 100); do
	[ "$(ls "/proc/$mon_pid/fd" | awk -v l="$limit" '$1 < l' | wc -l)" -ge "$limit" ] && break
	sleep 0.05
done
full=$(ls "/proc/$mon_pid/fd" | awk -v l="$limit" '$1 < l' | wc -l)
timeout 10 "${R[@]}" kill fd1 CONT 2>"$work/stderr"
rc1=$?
timeout 10 "${R[@]}" kill fd1 CONT 2>>"$work/stderr"
rc2=$?
st=$(status_of fd1)
prlimit --pid "$mon_pid" --nofile=1024:1024
kill "$holder"
wait "$holder" 2>/dev/null
timeout 10 "${R[@]}" kill fd1 KILL 2>>"$work/stderr"
rc3=$?
status=$(wait_status fd1)
"${R[@]}" delete fd1 2>>"$work/stderr"
rc=$? err=$(cat "$work/stderr")
out="limit $limit, $holes free filled ($full in use); kill CONT rc $rc1, again rc $rc2 (state $st); kill KILL rc $rc3, status $status"
check "the monitor out of fds: kill is answered (twice), then the container ends, delete succeeds, nothing left" \
	eval '[ "$full" -ge "$limit" ] && [ "$rc1" = 0 ] && [ "$rc2" = 0 ] && [ "$st" = running ] && [ "$rc3" = 0 ] &&
		[ "$status" = 137 ] && [ "$rc" = 0 ] && gone fd1'

# --- more broken guests (tests/faults/fault-init.c) ---------------------------------------------
if [ ! -e "$fault_initrd" ]; then
	for t in "no HELLO" "silent after start" "hostile agent: early" "hostile agent: oversized" \
		"hostile agent: random" "kernel panic after start"; do
		skip "$t" "no $fault_initrd (make check-integration builds it)"
	done
else
	# An agent that never says HELLO: create gives up at the boot timeout.
	conf=$(fault_conf nohello 5)
	make_config "$bundle" '["true"]'
	mon_pid= t0=$(date +%s)
	RUNVM_CONFIG=$conf timeout 60 "${R[@]}" create --bundle "$bundle" nh1 </dev/null >/dev/null 2>"$work/stderr"
	rc=$? took=$(($(date +%s) - t0)) err=$(cat "$work/stderr") out="create took $took s"
	check "an agent that never says HELLO: create fails after the boot timeout (5 s) with one clear line, nothing left" \
		eval '[ "$rc" = 1 ] && [ "$took" -ge 5 ] && [ "$took" -lt 30 ] && [ "$(wc -l <"$work/stderr")" = 1 ] &&
			[[ "$err" == *"guest agent did not start within 5 s"* ]] && gone nh1'

	# An agent silent after start (STARTED, then nothing): SIGTERM goes unanswered, SIGKILL's
	# deadline in the monitor ends the VM.
	conf=$(fault_conf silentstart 20)
	RUNVM_CONFIG=$conf create_bg ss1 '["sleep","600"]'
	RUNVM_CONFIG=$conf timeout 30 "${R[@]}" start ss1 2>"$work/stderr"
	src=$?
	timeout 10 "${R[@]}" kill ss1 TERM 2>>"$work/stderr"
	trc=$?
	sleep 1
	st1=$(status_of ss1)
	t0=$(date +%s)
	timeout 10 "${R[@]}" kill ss1 KILL 2>>"$work/stderr"
	krc=$?
	status=$(wait_status ss1)
	took=$(($(date +%s) - t0)) st=$(status_of ss1)
	"${R[@]}" delete ss1 2>>"$work/stderr"
	rc=$? err=$(cat "$work/stderr")
	out="create $create_rc, start $src, kill TERM $trc (then $st1), kill KILL $krc, ended in $took s: status $status, state $st"
	check "an agent silent after start: TERM is unanswered, KILL ends the container (137, stopped) by its deadline, delete succeeds, nothing left" \
		eval '[ "$create_rc" = 0 ] && [ "$src" = 0 ] && [ "$trc" = 0 ] && [ "$st1" = running ] && [ "$krc" = 0 ] &&
			[ "$status" = 137 ] && [ "$took" -lt 30 ] && [ "$st" = stopped ] && [ "$rc" = 0 ] && gone ss1'

	# A hostile agent: frames out of order, too long, or not frames at all. Random bytes in place
	# of HELLO fail create; bad frames after HELLO (create has returned) end the monitor with the
	# error on its stderr (the shim's log): the container is stopped, start refuses, delete works.
	for mode in early oversized random; do
		conf=$(fault_conf $mode 20)
		RUNVM_CONFIG=$conf create_bg hx-$mode '["true"]'
		src= st= drc= status=
		if [ "$create_rc" = 0 ]; then
			status=$(wait_status hx-$mode)
			st=$(status_of hx-$mode)
			RUNVM_CONFIG=$conf timeout 30 "${R[@]}" start hx-$mode 2>/dev/null
			src=$?
			"${R[@]}" delete hx-$mode 2>/dev/null
			drc=$?
		fi
		rc=$create_rc err=$(cat "$work/hx-$mode.err")
		out="create $create_rc; monitor status $status, state $st, start $src, delete $drc"
		check "a hostile agent ($mode): one \"agent protocol error\" line, the container stopped or never created, nothing left" \
			eval '[ "$(wc -l <"$work/hx-$mode.err")" = 1 ] && [[ "$err" == *"agent protocol error"* ]] &&
				{ [ "$rc" = 1 ] || { [ "$rc" = 0 ] && [ -n "$status" ] && [ "$status" != 0 ] && [ "$st" = stopped ] &&
					[ "$src" = 1 ] && [ "$drc" = 0 ]; }; } && gone hx-$mode'
	done

	# A guest kernel panic after start (PID 1 exits; panic=-1 reboots, which ends the VM).
	conf=$(fault_conf panic 20)
	RUNVM_CONFIG=$conf create_bg pn1 '["sleep","600"]'
	RUNVM_CONFIG=$conf timeout 30 "${R[@]}" start pn1 2>"$work/stderr"
	src=$?
	status=$(wait_status pn1)
	st=$(status_of pn1)
	"${R[@]}" delete pn1 2>>"$work/stderr"
	rc=$? err="$(cat "$work/stderr") monitor: $(cat "$work/pn1.err")" out="create $create_rc, start $src, monitor status $status, state $st"
	check "a guest kernel panic after start: the monitor's error names the panic, the container reports stopped, delete succeeds, nothing left" \
		eval '[ "$create_rc" = 0 ] && [ "$src" = 0 ] && [ -n "$status" ] && [ "$status" != 0 ] && [ "$st" = stopped ] &&
			[ "$rc" = 0 ] && [ "$(wc -l <"$work/pn1.err")" = 1 ] && grep -q "Kernel panic" "$work/pn1.err" && gone pn1'
fi

# --- the monitor SIGKILLed after create and while running --------------------------------------
# The VMM must die with its monitor; the container then reads stopped and delete cleans up.
for when in created running; do
	id=mk-$when
	create_bg $id '["sleep","600"]'
	src=
	if [ $when = running ]; then "${R[@]}" start $id; src=$?; fi
	vmm_before=$(pgrep -f -- "$bundle/rootfs")
	# The kvm backend has no VMM process of its own: its VMM is the monitor.
	[ -n "$vmm_before" ] || vmm_before=$mon_pid
	kill -KILL "$mon_pid"
	status=$(wait_status $id)
	# Alive: a process with a command line (a zombie has none).
	vmm_alive() { for p in $vmm_before; do [ -n "$(tr -d '\0' <"/proc/$p/cmdline" 2>/dev/null)" ] && echo "$p"; done; }
	for _ in $(seq 100); do [ -z "$(vmm_alive)" ] && break; sleep 0.05; done
	vmm_left=$(vmm_alive)
	st=$(status_of $id)
	if [ $when = running ]; then force=--force; else force=; fi
	"${R[@]}" delete $force $id 2>"$work/stderr"
	rc=$? err=$(cat "$work/stderr") out="create $create_rc, start $src; VMM ${vmm_before:-none}; monitor status $status, state $st"
	if [ -n "$vmm_left" ]; then
		kill -KILL $vmm_left
		skip "the monitor SIGKILLed ($when): its VMM dies with it" "known bug: VMM $vmm_left outlives its SIGKILLed monitor"
	else
		check "the monitor SIGKILLed ($when): its VMM dies too, the container reports stopped, delete${force:+ $force} succeeds, nothing left" \
			eval '[ "$create_rc" = 0 ] && [ -n "$vmm_before" ] && [ "$status" = -9 ] && [ "$st" = stopped ] && [ "$rc" = 0 ] && gone $id'
	fi
done

# --- --root on a full filesystem: create fails with one line and leaves nothing -----------------
full=$work/fullroot
mkdir -p "$full"
if mount -t tmpfs -o size=64k tmpfs "$full"; then
	undo+=("umount $full")
	dd if=/dev/zero of="$full/filler" bs=4k 2>/dev/null
	make_config "$bundle" '["true"]'
	timeout 60 "$RUNVM" --root "$full" create --bundle "$bundle" fr1 </dev/null >/dev/null 2>"$work/stderr"
	rc=$? err=$(cat "$work/stderr") out=$(ls -A "$full")
	left=$(ls -A "$full" | grep -vx filler)
	umount "$full" && unset 'undo[${#undo[@]}-1]'
	check "--root on a full filesystem: create fails with one clear line, nothing left" \
		eval '[ "$rc" = 1 ] && [ "$(wc -l <"$work/stderr")" = 1 ] && [[ "$err" == *"No space left"* ]] && [ -z "$left" ] &&
			mon_pid= gone fr1'
else
	skip "--root on a full filesystem" "cannot mount a tmpfs here"
fi

# --- a guest filling a share: its writes fail with ENOSPC, the container goes on -----------------
share=$work/share
mkdir -p "$share"
if mount -t tmpfs -o size=1m tmpfs "$share"; then
	undo+=("umount $share")
	rv sh1 '["sh","-c","dd if=/dev/zero of=/mnt/x bs=64k 2>/dev/null; echo dd=$?; echo second-write-ok >/mnt/y 2>/dev/null; rm /mnt/x; echo after-rm >/mnt/y && cat /mnt/y"]' \
		'c["mounts"].append({"destination": "/mnt", "type": "bind", "source": "'"$share"'", "options": ["rbind"]})'
	used=$(du -sk "$share" | cut -f1)
	umount "$share" && unset 'undo[${#undo[@]}-1]'
	check "a guest filling a share (1 MiB tmpfs): dd fails, the container goes on writing there once space is freed, exit 0, nothing left" \
		eval '[ "$rc" = 0 ] && [[ "$out" == *"dd=1"* ]] && [[ "$out" == *"after-rm"* ]] && mon_pid= gone sh1'
else
	skip "a guest filling a share" "cannot mount a tmpfs here"
fi
