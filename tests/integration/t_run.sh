# `runvm run`: one VM per container, in the foreground. Sourced by run.sh.

# --- the happy paths ---------------------------------------------------------------------
rv t-echo '["echo","hello from the guest"]'
check "stdout relayed, exit 0" test "$rc" = 0 -a "$out" = "hello from the guest"
check "state directory and QEMU gone after run" nothing_left t-echo

rv t-uname '["uname","-r"]'
check "uname -r is the guest kernel (6.1), not the host's $(uname -r)" eval '[ "$rc" = 0 ] && [[ "$out" == 6.1.* ]] && [ "$out" != "$(uname -r)" ]'

rv t-stderr '["sh","-c","echo to-stderr >&2; echo to-stdout"]'
check "stdout and stderr kept apart" eval '[ "$rc" = 0 ] && [ "$out" = to-stdout ] && [[ "$err" == *to-stderr* ]] && [[ "$err" != *to-stdout* ]]'

printf 'line one\nline two\n' > "$work/in.txt"
stdin_file=$work/in.txt rv t-stdin '["cat"]'
check "stdin relayed" test "$rc" = 0 -a "$out" = "$(printf 'line one\nline two')"

head -c 3000000 /dev/urandom > "$work/big.bin"
expect=$(md5sum < "$work/big.bin" | cut -d' ' -f1)
stdin_file=$work/big.bin rv t-bigstdin '["md5sum"]'
check "3 MB of stdin arrive intact" test "$rc" = 0 -a "${out%% *}" = "$expect"

make_config "$bundle" '["cat"]'
"$RUNVM" --root "$root" run --bundle "$bundle" t-bigout <"$work/big.bin" >"$work/big.out" 2>"$work/stderr"; rc=$?
out=$(md5sum < "$work/big.out" | cut -d' ' -f1); err=$(cat "$work/stderr")
check "3 MB through the container and back out intact" test "$rc" = 0 -a "$out" = "$expect"

# --- exit statuses -----------------------------------------------------------------------
rv t-exit3 '["sh","-c","exit 3"]'
check "exit code 3" test "$rc" = 3

# runc's `run` fails these at its create step: status 1 and its message (no VM is booted).
rv t-notfound '["no-such-program"]'
check "not found: 1 with runc's message" \
	eval '[ "$rc" = 1 ] && [[ "$err" == *'"'"'exec: "no-such-program": executable file not found in $PATH'"'"'* ]]'

printf 'not a program\n' > "$bundle/rootfs/notexec"; chmod 644 "$bundle/rootfs/notexec"
rv t-notexec '["/notexec"]'
check "not executable: 1 with runc's message" eval '[ "$rc" = 1 ] && [[ "$err" == *'"'"'exec: "/notexec": permission denied'"'"'* ]]'

# The container's first process is PID 1 of its PID namespace, which a signal from inside cannot
# kill (as under runc): the status of a killed child is what propagates.
rv t-kill9 '["sh","-c","sh -c '"'"'kill -9 $$'"'"'; exit $?"]'
check "a process killed by SIGKILL: 137" test "$rc" = 137

rv t-true '["true"]'
check "true: 0" test "$rc" = 0

# --- process settings --------------------------------------------------------------------
rv t-env '["sh","-c","echo $FOO-$BAR"]' 'c["process"]["env"] += ["FOO=foo", "BAR=bar baz"]'
check "env applied" test "$rc" = 0 -a "$out" = "foo-bar baz"

rv t-cwd '["pwd"]' 'c["process"]["cwd"] = "/tmp"'
check "cwd applied" test "$rc" = 0 -a "$out" = /tmp

rv t-cwd-new '["pwd"]' 'c["process"]["cwd"] = "/made/by/runvm"'
check "missing cwd is created, as runc does" test "$rc" = 0 -a "$out" = /made/by/runvm
rm -rf "$bundle/rootfs/made"

rv t-user '["sh","-c","echo $(id -u):$(id -g):$(id -G)"]' 'c["process"]["user"] = {"uid": 1000, "gid": 100, "additionalGids": [5, 6]}'
check "uid, gid and additional gids applied" eval '[ "$rc" = 0 ] && [ "$out" = "1000:100:100 5 6" ]'

rm -f "$bundle/rootfs/written-by-guest"
rv t-write '["sh","-c","echo written inside > /written-by-guest"]'
check "a file written in the container is on the host" eval '[ "$rc" = 0 ] && [ "$(cat "$bundle/rootfs/written-by-guest" 2>/dev/null)" = "written inside" ]'
rm -f "$bundle/rootfs/written-by-guest"

rv t-ro '["touch","/should-fail"]' 'c["root"]["readonly"] = True'
check "root.readonly: writes fail" eval '[ "$rc" != 0 ] && [ ! -e "$bundle/rootfs/should-fail" ]'

# --- signals -----------------------------------------------------------------------------
make_config "$bundle" '["sh","-c","trap \"echo got-term; exit 42\" TERM; echo ready; while :; do sleep 1; done"]'
"$RUNVM" --root "$root" run --bundle "$bundle" t-signal </dev/null >"$work/sig.out" 2>"$work/sig.err" &
pid=$!
for _ in $(seq 600); do grep -q ready "$work/sig.out" 2>/dev/null && break; sleep 0.1; done
kill -TERM "$pid"
wait "$pid"; rc=$?
out=$(cat "$work/sig.out"); err=$(cat "$work/sig.err")
check "SIGTERM to runvm reaches the container's process" eval '[ "$rc" = 42 ] && [[ "$out" == *got-term* ]]'

# --- errors: one line, exit 1, nothing left behind ---------------------------------------
make_config "$bundle" '["true"]'
mv "$bundle/config.json" "$work/config.json.saved"
expect_error "missing config.json" "config.json" e-noconfig "$RUNVM"
echo '{"ociVersion": "1.0.2", "process": {' > "$bundle/config.json"
expect_error "malformed config.json" "invalid JSON" e-badjson "$RUNVM"
mv "$work/config.json.saved" "$bundle/config.json"

make_config "$bundle" '["true"]' 'c["root"]["path"] = "no-such-rootfs"'
expect_error "missing rootfs" "no-such-rootfs" e-norootfs "$RUNVM"

make_config "$bundle" '["true"]'
printf '[runvm]\nkernel = /nonexistent/vmlinux\n' > "$work/nokernel.conf"
RUNVM_CONFIG=$work/nokernel.conf expect_error "missing kernel" "/nonexistent/vmlinux" e-nokernel "$RUNVM"
printf '[runvm]\nkernel = /etc/hostname\ninitrd = %s\n' "$(sed -n 's/^initrd = //p' "$RUNVM_CONFIG")" > "$work/badkernel.conf"
RUNVM_CONFIG=$work/badkernel.conf expect_error "a kernel the hypervisor cannot load" \
	"VM exited during boot|is not an x86_64 ELF vmlinux" e-badkernel "$RUNVM"
printf '[runvm]\nkernel = %s\ninitrd = /etc/hostname\n' "$(sed -n 's/^kernel = //p' "$RUNVM_CONFIG")" > "$work/badinitrd.conf"
RUNVM_CONFIG=$work/badinitrd.conf expect_error "an initrd without the agent: the guest's panic is shown" "Kernel panic" e-badinitrd "$RUNVM"
make_config "$bundle" '["true"]' 'c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]'
expect_error "no network namespace (the host's) is refused" "network namespace cannot be shared" e-hostnet "$RUNVM"
make_config "$bundle" '["true"]'
expect_error "unknown backend" "unknown backend" e-backend "$RUNVM" --backend no-such-backend
run_backend=$("$RUNVM" check 2>/dev/null | sed -n 's/^run would use *backend \([^,]*\),.*/\1/p')
if [ "$run_backend" = libvirt ]; then
	# libvirt's own message, which names the binary it could not find.
	sed '/^\[libvirt\]/a emulator = /nonexistent/qemu-system-x86_64' "$RUNVM_CONFIG" > "$work/noqemu.conf"
else
	grep -v '^\[qemu\]' "$RUNVM_CONFIG" > "$work/noqemu.conf"
	printf '[qemu]\nbinary = /nonexistent/qemu-system-x86_64\n' >> "$work/noqemu.conf"
fi
RUNVM_CONFIG=$work/noqemu.conf expect_error "QEMU missing" "qemu-system-x86_64" e-noqemu "$RUNVM"

rm -f "$work/log.json"
"$RUNVM" --root "$root" --log "$work/log.json" --log-format json run --no-such-flag --bundle "$bundle" e-flag </dev/null >/dev/null 2>"$work/stderr"
rc=$?; err=$(cat "$work/stderr")
check "unknown flag: exit 1, one line" eval '[ "$rc" = 1 ] && [ "$(wc -l <"$work/stderr")" = 1 ] && [[ "$err" == *no-such-flag* ]] && grep -q no-such-flag "$work/log.json"'

mkdir -p "$root/e-dup"
"$RUNVM" --root "$root" run --bundle "$bundle" e-dup </dev/null >/dev/null 2>"$work/stderr"; rc=$?; err=$(cat "$work/stderr")
check "duplicate ID refused, the existing container left alone" eval '[ "$rc" = 1 ] && [[ "$err" == *"container with given ID already exists"* ]] && [ -d "$root/e-dup" ]'
rmdir "$root/e-dup"
"$RUNVM" --root "$root" run --bundle "$bundle" '../escape' </dev/null >/dev/null 2>"$work/stderr"; rc=$?
check "invalid ID refused" eval '[ "$rc" = 1 ] && grep -q "invalid container id" "$work/stderr"'

# --- the other verbs ---------------------------------------------------------------------
"$RUNVM" check > "$work/check.out" 2>&1; rc=$?; out=$(cat "$work/check.out"); err=
if grep -q kvm_pvm /proc/modules 2>/dev/null || [ -d /sys/module/kvm_pvm ]; then
	check "check: PVM detected, run would use TCG" eval '[ "$rc" = 0 ] && [[ "$out" == *"pvm                yes"* ]] && [[ "$out" == *"accelerator tcg"* ]]'
else
	check "check: names a backend" eval '[ "$rc" = 0 ] && [[ "$out" == *"run would use      backend"* ]]'
fi
"$RUNVM" --version | grep -q '^runvm version'; rc=$?; out= err=
check "--version" test "$rc" = 0
mkdir -p "$work/specdir"
"$RUNVM" spec --bundle "$work/specdir" && "$RUNVM" spec --bundle "$work/specdir" 2>"$work/stderr"; rc=$?
err=$(cat "$work/stderr")
check "spec writes config.json once, then refuses to overwrite" eval '[ -s "$work/specdir/config.json" ] && [ "$rc" = 1 ] && [[ "$err" == *exists* ]]'

