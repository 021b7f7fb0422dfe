# `runvm install` / `runvm uninstall` on temporary copies of daemon.json, a podman drop-in and
# containerd's config.toml (no VM), and the global --config. Sourced by run.sh. containerd's
# own parser (`containerd --config F config dump`) checks the merge, and podman, in a private
# mount namespace whose /etc/containers is a copy, checks that `--runtime NAME` finds the drop-in.

inst=$work/install
iroot=$work/install-root # --root: install must never create it
rm -rf "$inst" && mkdir -p "$inst"

# ri ARGS...: runvm with ARGS; sets out, err, rc, lines (stderr's).
ri() {
	G_DEBUG=fatal-criticals "$RUNVM" --root "$iroot" "$@" >"$work/stdout" 2>"$work/stderr"
	rc=$?
	out=$(cat "$work/stdout") err=$(cat "$work/stderr")
	lines=$(wc -l <"$work/stderr")
}
no_glib_noise() { [[ "$err" != *"-CRITICAL **"* ]] && [[ "$err" != *"-WARNING **"* ]]; }

# refused NAME FILE NEEDLE ARGS...: runvm ARGS must fail (exit 1, one line naming FILE and
# holding NEEDLE) and leave FILE as it was, byte for byte, with no backup beside it.
refused() {
	local name=$1 file=$2 needle=$3
	shift 3
	cp "$file" "$file.orig"
	ri "$@"
	if [ "$rc" = 1 ] && [ "$lines" = 1 ] && [[ "$err" == *"$file"* ]] && [[ "$err" == *"$needle"* ]] && no_glib_noise &&
		cmp -s "$file" "$file.orig" && [ ! -e "$file.runvm-bak" ]; then
		ok "install: $name: refused, file untouched: $err"
	else
		not_ok "install: $name" "rc=$rc lines=$lines" "stderr=$err" "$(diff "$file.orig" "$file" 2>&1 | head -20)"
	fi
	rm -f "$file.orig"
}

# json_check FILE PYTHON: PYTHON (an expression over d, the parsed FILE) must be true.
json_check() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"; }

# The binary install registers by default: its own /proc/self/exe. Where RUNVM is a wrapper
# script (the nested suite's, adding --backend), that is the runvm the wrapper runs.
self=$(readlink -f "$RUNVM")
head -c 4 "$self" | grep -q ELF || self=$(readlink -f "$(command -v runvm)")

# --- the global --config -------------------------------------------------------------------
printf '[runvm]\nvcpu = 2\n' >"$inst/bad.conf"
printf '[runvm]\nvcpus = 2\n' >"$inst/good.conf"
ri --config "$inst/bad.conf" check
check "--config: a bad key in the file it names fails check" \
	eval '[ "$rc" = 1 ] && [ "$lines" = 1 ] && [[ "$err" == *"$inst/bad.conf"*"unknown key \`vcpu\`"* ]]'
RUNVM_CONFIG=$inst/bad.conf ri --config="$inst/good.conf" check
check "--config: read over \$RUNVM_CONFIG" eval '[ "$rc" = 0 ] && [[ "$out" == *"configuration "*"$inst/good.conf"* ]]'
ri --config "$inst/none.conf" check
check "--config: a missing file is an error" eval '[ "$rc" = 1 ] && [ "$lines" = 1 ] && [[ "$err" == *"$inst/none.conf"* ]]'

# --- docker ------------------------------------------------------------------------------------
dj=$inst/daemon.json
cat >"$dj" <<'EOF'
{
	"debug": true,
	"log-opts": {"max-size": "10m", "max-file": "3"},
	"runtimes": {"other": {"path": "/usr/bin/other", "runtimeArgs": ["--x"]}},
	"future-key": {"nested": [1, {"deep": null}]}
}
EOF
cp "$dj" "$inst/daemon.json.orig"
D=(--target docker --docker-config "$dj")
ri install "${D[@]}" --runtime-arg=--config=/etc/runvm/arm64.conf --runtime-arg --debug
check "install docker: one line naming the file, the backup and the restart" \
	eval '[ "$rc" = 0 ] && [ "$lines" = 0 ] && [[ "$out" == "docker: "*"$dj"*"$dj.runvm-bak"*"systemctl restart docker"* ]] && [ "$(wc -l <<<"$out")" = 1 ]'
check "install docker: runtimes.runvm = this runvm and its arguments" \
	json_check "$dj" "d['runtimes']['runvm'] == {'path': '$self', 'runtimeArgs': ['--config=/etc/runvm/arm64.conf', '--debug']}"
check "install docker: every other key kept" \
	json_check "$dj" "{k: v for k, v in d.items() if k != 'runtimes'} == {k: v for k, v in json.load(open('$inst/daemon.json.orig')).items() if k != 'runtimes'} and d['runtimes']['other'] == {'path': '/usr/bin/other', 'runtimeArgs': ['--x']}"
check "install docker: the backup is the old content" cmp -s "$dj.runvm-bak" "$inst/daemon.json.orig"
ri install "${D[@]}" --name runvm --path /bin/true
check "install docker: again with another path: the entry updated, not duplicated" \
	eval '[ "$rc" = 0 ] && json_check "$dj" "d[\"runtimes\"][\"runvm\"] == {\"path\": \"/bin/true\"}" && [ "$(grep -c "\"runvm\"" "$dj")" = 1 ]'
ri uninstall "${D[@]}"
check "uninstall docker: only that entry removed" \
	eval '[ "$rc" = 0 ] && [[ "$out" == "docker: "*removed* ]] && json_check "$dj" "d == json.load(open(\"$inst/daemon.json.orig\"))"'
ri uninstall "${D[@]}"
check "uninstall docker: again: says it is not there, exit 0, file unchanged" \
	eval '[ "$rc" = 0 ] && [[ "$out" == *"not registered"* ]] && json_check "$dj" "d == json.load(open(\"$inst/daemon.json.orig\"))"'
printf '{"debug": true,\n' >"$inst/bad.json"
refused "docker, not JSON" "$inst/bad.json" "not valid JSON" install --target docker --docker-config "$inst/bad.json"
refused "docker uninstall, not JSON" "$inst/bad.json" "not valid JSON" uninstall --target docker --docker-config "$inst/bad.json"
printf '["runvm"]\n' >"$inst/bad.json"
refused "docker, top level an array" "$inst/bad.json" "top level is not a JSON object" install --target docker --docker-config "$inst/bad.json"
printf '{"runtimes": "runvm"}\n' >"$inst/bad.json"
refused "docker, runtimes a string" "$inst/bad.json" "\`runtimes\` is not a JSON object" install --target docker --docker-config "$inst/bad.json"
printf '{"debug": true}\n' >"$inst/real.json" && ln -sf real.json "$inst/link.json"
ri install --target docker --docker-config "$inst/link.json"
check "install docker: a daemon.json that is a link stays one, the file it names edited" \
	eval '[ "$rc" = 0 ] && [ -L "$inst/link.json" ] && json_check "$inst/real.json" "\"runvm\" in d[\"runtimes\"] and d[\"debug\"]"'
rm -f "$inst/bad.json" "$dj" "$dj.runvm-bak" "$inst/daemon.json.orig" "$inst"/real.json* "$inst/link.json"

# --- containerd --------------------------------------------------------------------------------
ct=$inst/config.toml
# Debian 12's /etc/containerd/config.toml.
printf 'version = 2\n\n[plugins]\n  [plugins."io.containerd.grpc.v1.cri"]\n    [plugins."io.containerd.grpc.v1.cri".cni]\n      bin_dir = "/usr/lib/cni"\n      conf_dir = "/etc/cni/net.d"\n  [plugins."io.containerd.internal.v1.opt"]\n    path = "/var/lib/containerd/opt"\n' >"$ct"
cp "$ct" "$inst/config.toml.orig"
C=(--target containerd --containerd-config "$ct" --wrapper-dir "$inst/wrappers")
ri install "${C[@]}"
check "install containerd: one line naming the file, the backup and the restart" \
	eval '[ "$rc" = 0 ] && [[ "$out" == "containerd: "*"$ct"*"$ct.runvm-bak"*"systemctl restart containerd"* ]] && cmp -s "$ct.runvm-bak" "$inst/config.toml.orig"'
check "install containerd: the file's own lines kept, the block appended" \
	eval '[ "$(head -c "$(stat -c %s "$inst/config.toml.orig")" "$ct" | cmp - "$inst/config.toml.orig" && echo same)" = same ]'
if command -v containerd >/dev/null; then
	dump=$(timeout 30 containerd --config "$ct" config dump 2>&1)
	rt=$(awk '/containerd.runtimes.runvm.options\]/ {f=1} f && /BinaryName/ {print; exit}' <<<"$dump")
	out=$dump rc= err=
	check "containerd config dump: runtime runvm, the runc shim with this runvm as BinaryName" \
		eval '[[ "$dump" == *"[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runvm]"* ]] && [[ "$rt" == *"BinaryName = \"$self\""* ]] && grep -A12 "runtimes.runvm\]" <<<"$dump" | grep -q "runtime_type = \"io.containerd.runc.v2\""'
	check "containerd config dump: the default runc runtime and the file's other settings still there" \
		eval '[[ "$dump" == *"containerd.runtimes.runc]"* ]] && grep -q "bin_dir = \"/usr/lib/cni\"" <<<"$dump"'
else
	skip "containerd config dump: runtime runvm" "containerd is not installed"
	skip "containerd config dump: runc and the file's settings" "containerd is not installed"
fi
bad_conf=$inst/bad.conf
ri install "${C[@]}" --runtime-arg=--config="$bad_conf"
wrapper=$inst/wrappers/runvm-containerd
check "install containerd with an argument: BinaryName is a wrapper" \
	eval '[ "$rc" = 0 ] && [ -x "$wrapper" ] && grep -q "BinaryName = \"$wrapper\"" "$ct" && [ "$(grep -c "runtimes.runvm\]" "$ct")" = 1 ]'
w_err=$("$wrapper" check 2>&1 >/dev/null)
out= rc= err=$w_err
check "the wrapper runs runvm with the argument (its --config's bad key)" eval '[[ "$w_err" == *"$bad_conf"*"unknown key"* ]]'
if command -v containerd >/dev/null; then
	dump=$(timeout 30 containerd --config "$ct" config dump 2>&1)
	out=$dump
	check "containerd config dump: the wrapper as BinaryName" eval '[[ "$dump" == *"BinaryName = \"$wrapper\""* ]]'
else
	skip "containerd config dump: the wrapper" "containerd is not installed"
fi
ri uninstall "${C[@]}"
check "uninstall containerd: config.toml byte for byte as before, the wrapper gone" \
	eval '[ "$rc" = 0 ] && cmp -s "$ct" "$inst/config.toml.orig" && [ ! -e "$inst/wrappers" ]'
printf 'root = "/var/lib/containerd"\n[plugins.cri]\n' >"$inst/v1.toml"
refused "containerd, a version 1 file" "$inst/v1.toml" "not a version 2 configuration" install --target containerd --containerd-config "$inst/v1.toml"
printf 'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runvm]\n  runtime_type = "x"\n' >"$inst/hand.toml"
refused "containerd, runvm configured by hand" "$inst/hand.toml" "by hand" install --target containerd --containerd-config "$inst/hand.toml"
refused "containerd uninstall, runvm configured by hand" "$inst/hand.toml" "by hand" uninstall --target containerd --containerd-config "$inst/hand.toml"
printf 'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd]\n  runtimes = { kata = { runtime_type = "k" } }\n' >"$inst/inline.toml"
refused "containerd, runtimes as an inline table" "$inst/inline.toml" "inline table" install --target containerd --containerd-config "$inst/inline.toml"
rm -f "$inst"/*.toml "$inst"/*.toml.runvm-bak "$inst/config.toml.orig"

# --- podman --------------------------------------------------------------------------------------
if command -v podman >/dev/null && command -v unshare >/dev/null && [ -d /etc/containers ]; then
	pmetc=$inst/etc-containers
	mkdir -p "$pmetc" && cp -a /etc/containers/. "$pmetc/"
	pname=rvtest$$
	ri install --target podman --name "$pname" --podman-config "$pmetc/containers.conf.d/$pname.conf"
	check "install podman: the drop-in written, no restart needed" \
		eval '[ "$rc" = 0 ] && [[ "$out" == "podman: "*"$pmetc/containers.conf.d/$pname.conf"*"no restart"* ]] && grep -qx "$pname = \[\"$self\"\]" "$pmetc/containers.conf.d/$pname.conf"'
	# podman reads /etc/containers/containers.conf.d/*.conf: here a copy of /etc/containers, in a
	# mount namespace of the command's own.
	pm=$(unshare -m sh -c 'mount --bind "$1" /etc/containers && exec timeout 60 podman --root "$2/st" --runroot "$2/run" --storage-driver vfs --runtime "$3" info --format "{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Path}}"' \
		sh "$pmetc" "$inst/podman" "$pname" 2>&1)
	out=$pm rc= err=
	check "podman --runtime $pname: the drop-in's runtime, this runvm" test "$pm" = "$pname $self"
	ri uninstall --target podman --name "$pname" --podman-config "$pmetc/containers.conf.d/$pname.conf"
	pm=$(unshare -m sh -c 'mount --bind "$1" /etc/containers && exec timeout 60 podman --root "$2/st" --runroot "$2/run" --storage-driver vfs --runtime "$3" info --format "{{.Host.OCIRuntime.Path}}"' \
		sh "$pmetc" "$inst/podman" "$pname" 2>&1)
	out=$pm
	check "uninstall podman: the drop-in gone, podman no longer knows $pname" \
		eval '[ ! -e "$pmetc/containers.conf.d/$pname.conf" ] && [[ "$pm" == *"not found"* ]]'
	grep -o " $inst/podman[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
	rm -rf "$pmetc" "$inst/podman"
else
	skip "podman --runtime NAME finds the drop-in" "podman or unshare is missing"
	skip "uninstall podman: podman no longer knows it" "podman or unshare is missing"
fi
mkdir -p "$inst/dropins"
printf '[engine]\n' >"$inst/dropins/runvm.conf"
refused "podman, a drop-in runvm did not write" "$inst/dropins/runvm.conf" "not written by runvm install" install --target podman --podman-config "$inst/dropins/runvm.conf"
rm -f "$inst/dropins/runvm.conf"

# --- all three from absent files, with arguments: nothing left but backups ------------------------
A=(--target docker,podman --target containerd --docker-config "$inst/a/daemon.json" --podman-config "$inst/dropins/runvm.conf"
	--containerd-config "$inst/a/config.toml" --wrapper-dir "$inst/wrappers")
ri install "${A[@]}" --runtime-arg=--debug
check "install, absent files: each created, three lines" \
	eval '[ "$rc" = 0 ] && [ "$(wc -l <<<"$out")" = 3 ] && [ -s "$inst/a/daemon.json" ] && [ -s "$inst/dropins/runvm.conf" ] && [ -s "$inst/a/config.toml" ] && [ -x "$inst/wrappers/runvm-podman" ] && [ -x "$inst/wrappers/runvm-containerd" ]'
if command -v containerd >/dev/null; then
	dump=$(timeout 30 containerd --config "$inst/a/config.toml" config dump 2>&1)
	out=$dump
	check "containerd config dump of the file install created: runvm and runc" \
		eval '[[ "$dump" == *"containerd.runtimes.runvm]"* ]] && [[ "$dump" == *"containerd.runtimes.runc]"* ]]'
else
	skip "containerd config dump of the file install created" "containerd is not installed"
fi
ri uninstall "${A[@]}"
left=$(cd "$inst" && find . -mindepth 1 ! -name '*.runvm-bak' ! -path ./a ! -path ./dropins ! -name good.conf ! -name bad.conf)
out=$left
check "uninstall: three lines, nothing left in the temp dirs but backups" eval '[ "$rc" = 0 ] && [ "$(wc -l <<<"$(cat "$work/stdout")")" = 3 ] && [ -z "$left" ]'
check "install and uninstall never touched --root" test ! -e "$iroot"

# --- the command line ----------------------------------------------------------------------------
PATH=/nonexistent G_DEBUG=fatal-criticals "$self" --root "$iroot" install >"$work/stdout" 2>"$work/stderr"
rc=$? out=$(cat "$work/stdout") err=$(cat "$work/stderr") lines=$(wc -l <"$work/stderr")
check "install: no engine in PATH and no --target: one line, exit 1" \
	eval '[ "$rc" = 1 ] && [ "$lines" = 1 ] && [[ "$err" == *"--target"* ]]'
ri install --target lxc
check "install: an unknown target: one line, exit 1" eval '[ "$rc" = 1 ] && [ "$lines" = 1 ] && [[ "$err" == *"unknown target \`lxc\`"* ]]'
ri install --target docker --name 'a b' --docker-config "$inst/x.json"
check "install: a bad name: one line, exit 1, nothing written" eval '[ "$rc" = 1 ] && [ "$lines" = 1 ] && [ ! -e "$inst/x.json" ]'
ri uninstall --runtime-arg=x
check "uninstall: --runtime-arg is install's only" eval '[ "$rc" = 1 ] && [ "$lines" = 1 ] && [[ "$err" == *"unknown option"* ]]'
ri install --help
check "install --help lists the options" eval '[ "$rc" = 0 ] && [[ "$out" == *--runtime-arg*--docker-config*--wrapper-dir* ]]'
rm -rf "$inst"
