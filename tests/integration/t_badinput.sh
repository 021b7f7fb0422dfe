# A corpus of broken bundles: each must give one clear error line, the right exit status, a JSON
# error entry in the log, no GLib warning or critical, and leave nothing behind (expect_error in
# run.sh). Sourced by run.sh.

bi_n=0
# bad NAME NEEDLE PY: config.json running `true`, changed by PY (see make_config); then expect
# the error NEEDLE.
bad() {
	bi_n=$((bi_n + 1))
	make_config "$bundle" '["true"]' "$3"
	expect_error "bad input: $1" "$2" "bi-$bi_n" "$RUNVM"
}

# --- truncated ---------------------------------------------------------------------------
make_config "$bundle" '["true"]'
head -c "$(($(wc -c <"$bundle/config.json") / 2))" "$bundle/config.json" >"$work/half.json"
mv "$work/half.json" "$bundle/config.json"
bi_n=$((bi_n + 1))
expect_error "bad input: config.json cut in half" "invalid JSON" "bi-$bi_n" "$RUNVM"
echo '[]' >"$bundle/config.json"
bi_n=$((bi_n + 1))
expect_error "bad input: the top level an array" "top level must be an object" "bi-$bi_n" "$RUNVM"
bad "ociVersion missing" '`ociVersion` is missing' 'del c["ociVersion"]'
bad "process missing" '`process` is missing' 'del c["process"]'
bad "root missing" '`root` is missing' 'del c["root"]'

# --- a wrong type in every member the runtime reads (runtime/lib/spec.c) -----------------
bad "ociVersion a number" '`ociVersion` must be a string' 'c["ociVersion"] = 1'
bad "hostname an array" '`hostname` must be a scalar' 'c["hostname"] = []'
bad "process a string" '`process` must be an object' 'c["process"] = "true"'
bad "process.args a string" '`process.args` must be an array' 'c["process"]["args"] = "true"'
bad "process.args[0] a number" '`process.args[0]` must be a string' 'c["process"]["args"] = [1]'
bad "process.args empty" 'args must not be empty' 'c["process"]["args"] = []'
bad "process.env an object" '`process.env` must be an array' 'c["process"]["env"] = {}'
bad "process.env[0] a number" '`process.env[0]` must be a string' 'c["process"]["env"] = [1]'
bad "process.cwd a number" '`process.cwd` must be a string' 'c["process"]["cwd"] = 5'
bad "process.cwd relative" 'Cwd must be an absolute path' 'c["process"]["cwd"] = "tmp"'
bad "process.terminal a string" '`process.terminal` must be a boolean' 'c["process"]["terminal"] = "yes"'
bad "process.user an array" '`process.user` must be an object' 'c["process"]["user"] = []'
bad "process.user.uid a string" '`process.user.uid` must be an integer' 'c["process"]["user"]["uid"] = "0"'
bad "process.user.uid negative" '`process.user.uid` must be an integer' 'c["process"]["user"]["uid"] = -1'
bad "process.user.gid a float" '`process.user.gid` must be an integer' 'c["process"]["user"]["gid"] = 1.5'
bad "process.user.umask a string" '`process.user.umask` must be an integer' 'c["process"]["user"]["umask"] = "022"'
bad "process.user.additionalGids a number" '`process.user.additionalGids` must be an array' \
	'c["process"]["user"]["additionalGids"] = 5'
bad "process.user.additionalGids[0] a string" '`process.user.additionalGids[0]` must be an integer' \
	'c["process"]["user"]["additionalGids"] = ["5"]'
bad "process.capabilities a string" '`process.capabilities` must be an object' 'c["process"]["capabilities"] = "all"'
bad "process.capabilities.bounding a string" '`process.capabilities.bounding` must be an array' \
	'c["process"]["capabilities"] = {"bounding": "CAP_KILL"}'
bad "process.capabilities.effective[0] a number" '`process.capabilities.effective[0]` must be a string' \
	'c["process"]["capabilities"] = {"effective": [1]}'
bad "process.capabilities: an unknown capability" 'unknown capability `CAP_NOPE`' \
	'c["process"]["capabilities"] = {"permitted": ["CAP_NOPE"]}'
bad "process.rlimits an object" '`process.rlimits` must be an array' 'c["process"]["rlimits"] = {}'
bad "process.rlimits[0] a number" '`process.rlimits[0]` must be an object' 'c["process"]["rlimits"] = [1]'
bad "process.rlimits[0].type a number" '`process.rlimits[0].type` must be a string' \
	'c["process"]["rlimits"] = [{"type": 7, "soft": 1, "hard": 1}]'
bad "process.rlimits[0].soft a string" '`process.rlimits[0].soft` must be an integer' \
	'c["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": "1", "hard": 1}]'
bad "process.rlimits[0].hard missing" '`process.rlimits[0].hard` must be an integer' \
	'c["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 1}]'
bad "process.noNewPrivileges a number" '`process.noNewPrivileges` must be a boolean' 'c["process"]["noNewPrivileges"] = 1'
bad "process.oomScoreAdj a string" '`process.oomScoreAdj` must be an integer' 'c["process"]["oomScoreAdj"] = "0"'
bad "root a string" '`root` must be an object' 'c["root"] = "rootfs"'
bad "root.path a number" '`root.path` must be a string' 'c["root"]["path"] = 1'
bad "root.readonly a string" '`root.readonly` must be a boolean' 'c["root"]["readonly"] = "no"'
bad "hooks an array" '`hooks` must be an object' 'c["hooks"] = []'
bad "hooks.prestart an object" '`hooks.prestart` must be an array' 'c["hooks"] = {"prestart": {}}'
bad "hooks.poststart[0] a string" '`hooks.poststart[0]` must be an object' 'c["hooks"] = {"poststart": ["/bin/true"]}'
bad "hooks.prestart[0].path a number" '`hooks.prestart[0].path` must be a string' 'c["hooks"] = {"prestart": [{"path": 1}]}'
bad "hooks.createRuntime[0].args a string" '`hooks.createRuntime[0].args` must be an array' \
	'c["hooks"] = {"createRuntime": [{"path": "/bin/true", "args": "true"}]}'
bad "hooks.createContainer[0].env[0] a number" '`hooks.createContainer[0].env[0]` must be a string' \
	'c["hooks"] = {"createContainer": [{"path": "/bin/true", "env": [1]}]}'
bad "hooks.startContainer[0].timeout a string" '`hooks.startContainer[0].timeout` must be an integer' \
	'c["hooks"] = {"startContainer": [{"path": "/bin/true", "timeout": "5"}]}'
bad "hooks.poststop[0].timeout negative" '`hooks.poststop[0].timeout` must be an integer' \
	'c["hooks"] = {"poststop": [{"path": "/bin/true", "timeout": -1}]}'
bad "mounts an object" '`mounts` must be an array' 'c["mounts"] = {}'
bad "mounts[0] a string" '`mounts[0]` must be an object' 'c["mounts"] = ["/proc"]'
bad "mounts[0].destination a number" '`mounts[0].destination` must be a string' 'c["mounts"][0]["destination"] = 1'
bad "mounts[0].type an array" '`mounts[0].type` must be a scalar' 'c["mounts"][0]["type"] = []'
bad "mounts[0].source an object" '`mounts[0].source` must be a scalar' \
	'c["mounts"][0]["source"] = {}'
bad "mounts[1].options a string" '`mounts[1].options` must be an array' 'c["mounts"][1]["options"] = "ro"'
bad "mounts[1].options[0] a number" '`mounts[1].options[0]` must be a string' 'c["mounts"][1]["options"] = [1]'
bad "linux an array" '`linux` must be an object' 'c["linux"] = []'
bad "linux.resources a number" '`linux.resources` must be an object' 'c["linux"]["resources"] = 1'
bad "linux.resources.memory a number" '`linux.resources.memory` must be an object' 'c["linux"]["resources"] = {"memory": 1}'
bad "linux.resources.memory.limit a string" '`linux.resources.memory.limit` must be a 64-bit integer' \
	'c["linux"]["resources"] = {"memory": {"limit": "1G"}}'
bad "linux.resources.cpu a string" '`linux.resources.cpu` must be an object' 'c["linux"]["resources"] = {"cpu": "2"}'
bad "linux.resources.cpu.quota a string" '`linux.resources.cpu.quota` must be a 64-bit integer' \
	'c["linux"]["resources"] = {"cpu": {"quota": "1"}}'
bad "linux.resources.cpu.period a float" '`linux.resources.cpu.period` must be a 64-bit integer' \
	'c["linux"]["resources"] = {"cpu": {"period": 1.5}}'
bad "linux.resources.cpu.cpus a number" '`linux.resources.cpu.cpus` must be a string' \
	'c["linux"]["resources"] = {"cpu": {"cpus": 3}}'
bad "linux.resources.cpu.cpus not a list" 'is not a CPU list' 'c["linux"]["resources"] = {"cpu": {"cpus": "3-1"}}'
bad "linux.cgroupsPath a number" '`linux.cgroupsPath` must be a string' 'c["linux"]["cgroupsPath"] = 1'
bad "linux.maskedPaths a string" '`linux.maskedPaths` must be an array' 'c["linux"]["maskedPaths"] = "/proc/kcore"'
bad "linux.readonlyPaths[0] a number" '`linux.readonlyPaths[0]` must be a string' 'c["linux"]["readonlyPaths"] = [1]'
bad "linux.seccomp a string" '`linux.seccomp` must be an object' 'c["linux"]["seccomp"] = "default"'
bad "linux.seccomp.defaultAction a number" '`linux.seccomp.defaultAction` must be a string' \
	'c["linux"]["seccomp"] = {"defaultAction": 1}'
bad "linux.seccomp.defaultErrnoRet a string" '`linux.seccomp.defaultErrnoRet` must be an integer' \
	'c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": "1"}'
bad "linux.seccomp.architectures a string" '`linux.seccomp.architectures` must be an array' \
	'c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": "SCMP_ARCH_X86"}'
bad "linux.seccomp.syscalls an object" '`linux.seccomp.syscalls` must be an array' \
	'c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {}}'
bad "linux.seccomp.syscalls[0] a string" '`linux.seccomp.syscalls[0]` must be an object' \
	'c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": ["read"]}'
bad "linux.seccomp.syscalls[0].names a string" '`linux.seccomp.syscalls[0].names` must be an array' \
	'c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": "read", "action": "SCMP_ACT_ERRNO"}]}'
bad "linux.seccomp.syscalls[0].names missing" '`linux.seccomp.syscalls[0].names` is missing' \
	'c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]}'
bad "linux.seccomp.syscalls[0].action a number" '`linux.seccomp.syscalls[0].action` must be a string' \
	'c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": 2}]}'
bad "linux.seccomp.syscalls[0].errnoRet a string" '`linux.seccomp.syscalls[0].errnoRet` must be an integer' \
	'c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": "1"}]}'
bad "linux.seccomp.syscalls[0].args an object" '`linux.seccomp.syscalls[0].args` must be an array' \
	'c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": {}}]}'
bad "linux.seccomp.syscalls[0].args[0].index a string" '`linux.seccomp.syscalls[0].args[0].index` must be an integer' \
	'c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": "0", "value": 1, "op": "SCMP_CMP_EQ"}]}]}'
bad "linux.seccomp.syscalls[0].args[0].value a string" '`linux.seccomp.syscalls[0].args[0].value` must be a 64-bit integer' \
	'c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": "1", "op": "SCMP_CMP_EQ"}]}]}'
bad "linux.seccomp.syscalls[0].args[0].op a number" '`linux.seccomp.syscalls[0].args[0].op` must be a string' \
	'c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": 4}]}]}'
bad "linux.sysctl an array" '`linux.sysctl` must be an object' 'c["linux"]["sysctl"] = []'
bad "linux.sysctl value a number" '`linux.sysctl.net.ipv4.ip_forward` must be a string' \
	'c["linux"]["sysctl"] = {"net.ipv4.ip_forward": 1}'
bad "linux.namespaces an object" '`linux.namespaces` must be an array' 'c["linux"]["namespaces"] = {}'
bad "linux.namespaces[0] a string" '`linux.namespaces[0]` must be an object' 'c["linux"]["namespaces"] = ["network"]'
bad "linux.namespaces[4].type a number" '`linux.namespaces[4].type` must be a string' 'c["linux"]["namespaces"][4]["type"] = 1'
bad "linux.namespaces[4].path a number" '`linux.namespaces[4].path` must be a string' 'c["linux"]["namespaces"][4]["path"] = 1'

# --- invalid annotations -----------------------------------------------------------------
bad "annotations an array" '`annotations` must be an object' 'c["annotations"] = []'
bad "an annotation a number" '`annotations.org.example.n` must be a string' 'c["annotations"] = {"org.example.n": 1}'
bad "an annotation an object" '`annotations.org.example.o` must be a string' 'c["annotations"] = {"org.example.o": {}}'
bad "io.runvm.arch a number" '`annotations.io.runvm.arch` must be a string' 'c["annotations"] = {"io.runvm.arch": 5}'
bad "io.runvm.arch unknown" 'sparc' 'c["annotations"] = {"io.runvm.arch": "sparc"}'

# --- huge numbers ------------------------------------------------------------------------
bad "memory.limit 2^63-1 (would wrap)" 'more than a VM can have' \
	'c["linux"]["resources"] = {"memory": {"limit": 2**63 - 1}}'
bad "memory.limit 2^64 (json-glib would wrap it to -1: unlimited)" 'number `18446744073709551616` does not fit in 64 bits' \
	'c["linux"]["resources"] = {"memory": {"limit": 2**64}}'
bad "cpu.quota 2^70" 'does not fit in 64 bits' \
	'c["linux"]["resources"] = {"cpu": {"quota": 2**70, "period": 100000}}'
bad "uid 2^32" '`process.user.uid` must be an integer in 0..4294967295' 'c["process"]["user"]["uid"] = 2**32'
bad "umask 2^64" 'does not fit in 64 bits' 'c["process"]["user"]["umask"] = 2**64'
bad "oomScoreAdj -10^30" 'does not fit in 64 bits' 'c["process"]["oomScoreAdj"] = -10**30'
bad "hook timeout 2^40" '`hooks.prestart[0].timeout` must be an integer' \
	'c["hooks"] = {"prestart": [{"path": "/bin/true", "timeout": 2**40}]}'
bad "hook timeout over an hour" 'is over an hour' 'c["hooks"] = {"prestart": [{"path": "/bin/true", "timeout": 3601}]}'

# --- the rootfs --------------------------------------------------------------------------
bad "rootfs missing" 'no-such-rootfs' 'c["root"]["path"] = "no-such-rootfs"'
bad "rootfs a file" 'config.json' 'c["root"]["path"] = "config.json"'

# --- hostile mount destinations ----------------------------------------------------------
bad "mount destination relative" 'must be an absolute path' 'c["mounts"][0]["destination"] = "proc"'
bad "mount destination climbing out with .." 'holds `..`' \
	'c["mounts"].append({"destination": "/../../etc/x", "type": "tmpfs", "source": "tmpfs"})'
bad "mount destination .. in the middle" 'holds `..`' \
	'c["mounts"].append({"destination": "/tmp/../../x", "type": "tmpfs", "source": "tmpfs"})'
bad "bind source relative" 'must be an absolute path' \
	'c["mounts"].append({"destination": "/mnt", "type": "bind", "source": "rootfs", "options": ["rbind"]})'
bad "bind source missing" '/nonexistent/bind-source' \
	'c["mounts"].append({"destination": "/mnt", "type": "bind", "source": "/nonexistent/bind-source", "options": ["rbind"]})'
bad "a newline in a mount destination" 'holds a newline' 'c["mounts"][0]["destination"] = "/proc\nx"'
bad "a comma in a mount option" 'holds a newline or comma' 'c["mounts"][1]["options"] = ["mode=755,size=1k"]'

# An absolute symlink in the rootfs whose target is a host directory: the agent resolves it in
# the rootfs (as runc's securejoin does), so the mount lands inside, never on the host's path.
mkdir -p "$work/host-target"
ln -sfn "$work/host-target" "$bundle/rootfs/evil"
make_config "$bundle" '["sh","-c","touch /evil/m/x && grep -q \" /evil/m tmpfs \\|host-target/m tmpfs \" /proc/mounts && echo inside"]' \
	'c["mounts"].append({"destination": "/evil/m", "type": "tmpfs", "source": "tmpfs"})'
G_DEBUG=fatal-criticals timeout 60 "$RUNVM" --root "$root" run --bundle "$bundle" bi-symlink </dev/null >"$work/stdout" 2>"$work/stderr"
rc=$?; out=$(cat "$work/stdout"); err=$(cat "$work/stderr")
check "bad input: a mount destination through an absolute symlink out stays in the rootfs" \
	eval '[ "$rc" = 0 ] && [ "$out" = inside ] && [ -z "$(ls -A "$work/host-target")" ] && [ -d "$bundle/rootfs$work/host-target/m" ] && nothing_left bi-symlink'
rm -rf "$bundle/rootfs/evil" "$bundle/rootfs$work"

# --- args[0] -----------------------------------------------------------------------------
# Refused on the host with runc's message and status 1 (runtime/arch.c, rt_program_check: a
# FIFO or device node of mode 0644 is not executable, a symlink out of the rootfs names
# nothing in it); what matters too is that create never blocks on, nor opens, what args[0]
# names on the host (regular files only, without blocking).
mkfifo "$bundle/rootfs/fifo"
make_config "$bundle" '["/fifo"]'
bi_n=$((bi_n + 1))
expect_error "bad input: args[0] a FIFO (create must not block on it)" "/fifo" "bi-$bi_n" "$RUNVM"
# Where create did block (timeout killed it), what it left must not fail the tests after this one.
"$RUNVM" --root "$root" delete --force "bi-$bi_n" 2>/dev/null
rm -f "$bundle/rootfs/fifo"
mknod "$bundle/rootfs/null" c 1 3
make_config "$bundle" '["/null"]'
bi_n=$((bi_n + 1))
expect_error "bad input: args[0] a device node" "/null" "bi-$bi_n" "$RUNVM"
rm -f "$bundle/rootfs/null"
# A symlink to a host FIFO: followed on the host, arch detection would block on it; in the
# rootfs it names nothing.
mkfifo "$work/host-fifo"
ln -sfn "$work/host-fifo" "$bundle/rootfs/escape"
make_config "$bundle" '["/escape"]'
bi_n=$((bi_n + 1))
expect_error "bad input: args[0] a symlink out of the rootfs" "/escape" "bi-$bi_n" "$RUNVM"
rm -f "$bundle/rootfs/escape" "$work/host-fifo"
make_config "$bundle" '["/no/such/program"]'
bi_n=$((bi_n + 1))
expect_error "bad input: args[0] missing" "/no/such/program" "bi-$bi_n" "$RUNVM"
make_config "$bundle" '["true"]'
