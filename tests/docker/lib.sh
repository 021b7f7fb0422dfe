# Shared by the docker suites (run.sh, build.sh, tests/libvirt/docker.sh): source it after
# tests/lib/dockerd.sh, with $work set to the suite's work directory (its file `last` holds a
# failing check's details).

# check NAME CMD...: ok when CMD succeeds, else not ok with the head of $work/last.
check() {
	local name=$1; shift
	if "$@"; then ok "$name"; else not_ok "$name" "$(head -c 600 "$work/last" 2>/dev/null)"; fi
}

# arm64_archive ROOTFS TAG OUT: a docker-archive (the `docker save` layout: manifest.json, an
# image config, one layer) of ROOTFS whose config says linux/arm64, as a pulled image's does.
# `docker import --platform linux/arm64` would record the daemon's own architecture before
# docker 23.0 (moby#42813); buildah pulls the same file (docker-archive:OUT).
arm64_archive() {
	local d=$work/arm64-image
	rm -rf "$d" && mkdir -p "$d" && tar -C "$1" -cf "$d/layer.tar" . || return 1
	printf '{"architecture":"arm64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
		"$(sha256sum "$d/layer.tar" | cut -d' ' -f1)" > "$d/config.json"
	printf '[{"Config":"config.json","RepoTags":["%s"],"Layers":["layer.tar"]}]' "$2" > "$d/manifest.json"
	tar -C "$d" -cf "$3" config.json manifest.json layer.tar
}

# arm64_image ROOTFS TAG: docker load a one-layer image of ROOTFS with an arm64 config.
arm64_image() {
	arm64_archive "$1" "$2" "$work/arm64-image.tar" && "$D" load -i "$work/arm64-image.tar"
}

# both NAME CMD...: run `docker CMD...` with --runtime=runvm and --runtime=runc (the word
# RUNTIME in CMD is replaced); passes when exit codes and outputs match.
both() {
	local name=$1; shift
	local -a a=() b=()
	for w in "$@"; do a+=("${w/RUNTIME/--runtime=runvm}"); b+=("${w/RUNTIME/--runtime=runc}"); done
	out_vm=$("$D" "${a[@]}" 2>"$work/err_vm" <"${stdin_file:-/dev/null}"); rc_vm=$?
	out_rc=$("$D" "${b[@]}" 2>"$work/err_rc" <"${stdin_file:-/dev/null}"); rc_rc=$?
	if [ "$rc_vm" = "$rc_rc" ] && [ "$out_vm" = "$out_rc" ]; then
		ok "$name (exit $rc_vm)"
	else
		not_ok "$name" "runvm: exit $rc_vm, out=$(head -c 300 <<<"$out_vm") err=$(head -c 300 "$work/err_vm")" \
			"runc:  exit $rc_rc, out=$(head -c 300 <<<"$out_rc") err=$(head -c 300 "$work/err_rc")"
	fi
}
