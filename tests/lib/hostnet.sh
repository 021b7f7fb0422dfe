# Shared by the docker networking suite and bench: a private dockerd with bridge networking and
# iptables on a bridge of its own (never docker0), and the host's networking put back after.
# Source tests/lib/dockerd.sh, then this; needs root, RUNVM and RUNVM_CONFIG. The bridge is
# $hostnet_bridge (RVNET_BRIDGE, default rvnet0) with $hostnet_addr (RVNET_ADDR, default
# 10.213.0.1/24); $hostnet_gw is its address without the length.
#   hostnet_lock: waits (up to 15 minutes) for the lock every user of this file shares, held on
#     fd 9 until the script exits: two runs would restore each other's host state. Background
#     processes that may outlive the run must not inherit it (start them with 9>&-).
#   hostnet_start WORKDIR [DOCKERD_FLAGS...]: saves the host's links, iptables and ip6tables
#     rules and forwarding/bridge-netfilter sysctls in $hostnet_saved (a directory of its own),
#     deletes a bridge of ours left by a killed run, makes the bridge and starts dockerd on it
#     (dockerd_start WORKDIR: iptables and masquerading on, ip6tables off, then DOCKERD_FLAGS).
#     Returns non-zero with the reason on stderr if the bridge's subnet is taken or dockerd does
#     not come up; call hostnet_stop either way.
#   hostnet_stop: stops dockerd (dockerd_stop: removes WORKDIR), deletes our bridge and every
#     br-* bridge that was not there before, restores the iptables and ip6tables rules (a table
#     dockerd added is emptied, and deleted where nft can) and the sysctls as saved. Runs once,
#     does nothing before hostnet_start; call it from an EXIT trap. $hostnet_saved stays, for
#     the caller to compare the host with (hostnet_save, hostnet_rules) and to remove.
#   hostnet_save DIR: the state as above, in DIR/links, DIR/iptables, DIR/ip6tables, DIR/sysctl.
#   hostnet_rules FILE: the rules of an iptables-save FILE without comments and counters, and
#     without empty tables (built-in chains accepting, no rule): one made by listing it, or one
#     that dockerd made and hostnet_stop emptied but could not delete, is no change to the host.
#   hostnet_sysctls_kept BEFORE AFTER: the lines of the sysctl file AFTER whose keys BEFORE has: a
#     key that came with its module (dockerd loads br_netfilter) was no part of the host's state.

hostnet_bridge=${RVNET_BRIDGE:-rvnet0}
hostnet_addr=${RVNET_ADDR:-10.213.0.1/24}
hostnet_gw=${hostnet_addr%/*}
hostnet_saved='' hostnet_stopped=''
hostnet_sysctls="net.ipv4.ip_forward net.ipv6.conf.all.forwarding net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables"

hostnet_lock() {
	exec 9>/tmp/runvm-docker-net.lock
	flock -w 900 9
}

hostnet_save() {
	ip -br link | sed 's/@[^ ]*//' | sort > "$1/links"
	iptables-save > "$1/iptables"
	ip6tables-save > "$1/ip6tables"
	: > "$1/sysctl"
	local k
	for k in $hostnet_sysctls; do
		[ -e "/proc/sys/${k//.//}" ] && echo "$k=$(cat "/proc/sys/${k//.//}")" >> "$1/sysctl"
	done
	return 0
}

hostnet_rules() {
	sed -e '/^#/d' -e 's/ \[[0-9]*:[0-9]*\]$//' -e 's/^\[[0-9]*:[0-9]*\] //' "$1" | awk '
		/^\*/ { table = $0; n = 0; keep = 0; next }
		/^COMMIT$/ { if (keep) { print table; for (i = 1; i <= n; i++) print line[i]; print } next }
		{ line[++n] = $0; if ($0 !~ /^:[^ ]+ ACCEPT$/) keep = 1 }'
}

hostnet_sysctls_kept() { awk -F= 'FILENAME == ARGV[1] { k[$1]; next } $1 in k' "$1" "$2"; }

hostnet_start() {
	local work=$1
	shift
	dockerd_work=$work   # for dockerd_stop, should dockerd_start not be reached
	hostnet_saved=$(mktemp -d /tmp/runvm-hostnet-XXXXXX)   # beside WORKDIR: dockerd_stop removes it
	# A bridge of ours left by a run that was killed outright: it is not part of the host's state.
	ip link show "$hostnet_bridge" >/dev/null 2>&1 && { echo "# deleting $hostnet_bridge left by an earlier run"; ip link del "$hostnet_bridge"; }
	hostnet_save "$hostnet_saved"
	if ip -4 route | grep -q "^${hostnet_gw%.*}\."; then
		{ echo "$hostnet_addr is taken on the host:"; ip -4 route; } >&2
		return 1
	fi
	ip link add "$hostnet_bridge" type bridge && ip addr add "$hostnet_addr" dev "$hostnet_bridge" &&
		ip link set "$hostnet_bridge" up || return 1
	dockerd_start "$work" --bridge="$hostnet_bridge" --iptables=true --ip-masq=true --ip6tables=false "$@" 9>&-
}

# hostnet_restore_tables iptables|ip6tables ip|ip6 SAVED: the tables saved are restored as they
# were; a table that was not there before is emptied and, with the nf_tables backend and nft at
# hand, deleted (iptables-nft cannot delete a table).
hostnet_restore_tables() {
	local cmd=$1 family=$2 saved=$3 t
	[ -s "$saved" ] && "$cmd-restore" < "$saved"
	for t in $("$cmd-save" | sed -n 's/^\*//p'); do
		grep -qx "\*$t" "$saved" && continue
		{ echo "*$t"; "$cmd-save" -t "$t" | awk '/^:/ && $2 != "-" {print $1, "ACCEPT"}'; echo COMMIT; } | "$cmd-restore"
		if "$cmd" --version | grep -q nf_tables && command -v nft >/dev/null; then
			nft delete table "$family" "$t"
		fi
	done
}

hostnet_stop() {
	[ -n "$hostnet_saved" ] && [ -z "$hostnet_stopped" ] || return 0
	hostnet_stopped=1
	local -   # every step, whatever the one before did (set -e in the caller)
	set +e
	dockerd_stop   # containers, user networks, the daemon
	ip link del "$hostnet_bridge" 2>/dev/null
	local l k v
	for l in $(ip -br link show type bridge | awk '{print $1}'); do
		[[ "$l" == br-* ]] && ! grep -q "^$l " "$hostnet_saved/links" && ip link del "$l"
	done
	hostnet_restore_tables iptables ip "$hostnet_saved/iptables"
	hostnet_restore_tables ip6tables ip6 "$hostnet_saved/ip6tables"
	while IFS='=' read -r k v; do
		[ "$(cat "/proc/sys/${k//.//}")" = "$v" ] || echo "$v" > "/proc/sys/${k//.//}"
	done < "$hostnet_saved/sysctl"
	return 0
}
