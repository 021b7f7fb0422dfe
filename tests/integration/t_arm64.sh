# linux/arm64 containers on any host: an arm64 busybox rootfs runs in an aarch64 guest (TCG
# on x86_64), chosen from its program's ELF header. Sourced by run.sh.

arm=$work/arm64
mkdir -p "$arm"
if ! make_rootfs "$arm/rootfs" arm64 2>"$work/arm64.err"; then
	echo "# SKIP arm64: $(cat "$work/arm64.err")"
else
	# ar ID JSON_ARGS [PY]: like rv, on the arm64 bundle.
	ar() {
		make_config "$arm" "$2" "${3:-}"
		out=$("$RUNVM" --root "$root" run --bundle "$arm" "$1" <"${stdin_file:-/dev/null}" 2>"$work/stderr")
		rc=$?
		err=$(cat "$work/stderr")
	}
	ar a-uname '["sh","-c","uname -m; echo to-stderr >&2; exit 3"]'
	check "arm64 image: an aarch64 guest, stdout, stderr, exit code" \
		eval '[ "$rc" = 3 ] && [ "$out" = aarch64 ] && [[ "$err" == *to-stderr* ]]'
	printf 'from the host\n' > "$work/arm-in"
	stdin_file=$work/arm-in ar a-stdin '["cat"]'
	check "arm64 image: stdin relayed" test "$rc" = 0 -a "$out" = "from the host"
	ar a-notfound '["no-such-program"]'
	check "arm64 image, a program that is not there: 1, found on the host before any guest boots (as runc)" \
		eval '[ "$rc" = 1 ] && [[ "$err" == *"executable file not found"* ]]'
	ar a-seccomp '["sh","-c","uname -m; mkdir /tmp/x && echo allowed"]' \
		'c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}'
	check "arm64 image: the seccomp filter is built for the guest's architecture" \
		eval '[ "$rc" = 1 ] && [ "$out" = aarch64 ]'
	ar a-annot '["uname","-m"]' 'c["annotations"] = {"io.runvm.arch": "x86_64"}'
	check "the io.runvm.arch annotation overrides the program's architecture" \
		test "$rc" = 126
	ar a-badannot '["true"]' 'c["annotations"] = {"io.runvm.arch": "sparc"}'
	check "an unknown io.runvm.arch is a clear error" eval '[ "$rc" = 1 ] && [[ "$err" == *"io.runvm.arch"* ]]'
	"$RUNVM" check > "$work/check.out" 2>&1
	out=$(cat "$work/check.out")
	check "check lists the aarch64 guest and how it runs" eval '[[ "$out" =~ "aarch64 guest      backend "(qemu|libvirt)", accelerator " ]]'
fi
