#!/bin/bash
# Docker networking end to end: a private dockerd with bridge networking and iptables on its own
# bridge (rvnet0, 10.213.0.1/24, made here; never docker0), runvm containers checked against
# runc ones: container -> host, published ports (docker-proxy and iptables DNAT), a user-defined
# network with Docker's embedded DNS, runvm <-> runc traffic, the address/MAC/MTU/gateway docker
# assigned as the guest sees them, and the refusal of --network container:<runvm container>.
# dockerd changes the host's networking: this suite saves iptables/ip6tables, the forwarding
# sysctls and the link list first, and puts them back after itself (tests/lib/hostnet.sh, a
# trap, also on failure); the last checks say the host is as it was. One run at a time (a lock,
# shared with bench/net.sh). Prints TAP and a closing "docker-net: N passed, N failed" line.
# Needs RUNVM and RUNVM_CONFIG, and root.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/bundle.sh"
: "${RUNVM:?set RUNVM to the runvm binary}"
: "${RUNVM_CONFIG:?set RUNVM_CONFIG to a runvm configuration}"
. "$here/../lib/dockerd.sh"
. "$here/../lib/hostnet.sh"
. "$here/../lib/tap.sh"

BR=$hostnet_bridge BR_ADDR=$hostnet_addr GW=$hostnet_gw   # RVNET_BRIDGE, RVNET_ADDR
HOST_PORT=18090                    # the host's TCP server on the bridge address
PUB_VM=18091 PUB_RC=18092          # published ports of the runvm and runc servers
NET=rvtestnet NET_MTU=1400         # the user-defined network, a non-default MTU,
NET_SUBNET=${RVNET_USER_SUBNET:-10.213.1.0/24}  # a subnet of our own (not docker's pool: 172.17/16)

finish() { tap_finish docker-net; }

for tool in dockerd iptables-save ip6tables-save iptables-restore ip python3 busybox flock; do
	if ! command -v $tool >/dev/null || [ ! -x "$D" ]; then
		tap_skip_all docker-net "$tool or docker is missing (make deps installs them)"
	fi
done

# Two runs at once would restore each other's host state: take turns.
hostnet_lock || { not_ok "the networking suite's lock (another run holds it)"; finish; }

work=$(mktemp -d /tmp/runvm-dn-XXXXXX)
server_pid=
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
	server_pid=
	hostnet_stop          # containers, user networks, the daemon, $work; the host's networking
	mkdir -p "$work"
}
trap 'cleanup; rm -rf "$hostnet_saved" "$work"' EXIT
trap 'exit 130' INT TERM

# ---- dockerd on a bridge of its own -------------------------------------------------------
# A run killed outright leaves its network's bridge (br-ID, with our subnet's gateway): with no
# dockerd running (ours starts below), no daemon owns it, and it would take the subnet.
if ! pgrep -x dockerd >/dev/null; then
	for l in $(ip -br -4 addr show type bridge | awk -v p="${NET_SUBNET%.*}." '$1 ~ /^br-/ && index($3, p) == 1 {print $1}'); do
		echo "# deleting $l ($NET_SUBNET) left by an earlier run"
		ip link del "$l"
	done
fi
if ip -4 route | grep -q "^${NET_SUBNET%.*}\."; then
	not_ok "$NET_SUBNET is free on the host" "$(ip -4 route)"
	finish
fi
if ! hostnet_start "$work" 2>"$work/last"; then
	not_ok "dockerd started with --bridge=$BR ($BR_ADDR)" "$(cat "$work/last")"
	finish
fi
echo "# docker $("$D" version --format '{{.Server.Version}}'), $(runc --version | head -1), $(iptables --version)"
make_rootfs "$work/rootfs"
tar -C "$work/rootfs" -c . | "$D" import - rvtest >/dev/null

check() {
	local name=$1; shift
	if "$@"; then ok "$name"; else not_ok "$name" "$(head -c 800 "$work/last" 2>/dev/null | tr '\n' '|')"; fi
}
inspect() { "$D" inspect -f "$1" "$2" 2>/dev/null; }
# fetch URL: the page, from the host (busybox wget has no timeout of its own).
fetch() { timeout 5 busybox wget -Y off -qO- "$1" 2>&1; }
# wait_page CONTAINER URL TEXT [SECONDS]: poll until the page is TEXT, the container is not
# running, or the deadline passes.
wait_page() {
	local end=$((SECONDS + ${4:-40}))
	while [ $SECONDS -lt $end ]; do
		[ "$(fetch "$2")" = "$3" ] && return 0
		[ "$(inspect '{{.State.Status}}' "$1")" = running ] || break
		sleep 0.3
	done
	{ cat "$work/err-$1" 2>/dev/null
	  echo "no '$3' at $2; state $(inspect '{{.State.Status}} exit {{.State.ExitCode}} {{.State.Error}}' "$1")"
	  "$D" logs "$1" 2>&1 | tail -5; } > "$work/last"
	return 1
}
# serve RUNTIME NAME TEXT DOCKER-RUN-ARGS...: a detached httpd on port 8080 serving TEXT.
serve() {
	local rt=$1 name=$2 text=$3; shift 3
	"$D" run -d --runtime="$rt" --name "$name" "$@" rvtest \
		sh -c "mkdir -p /www && echo $text > /www/index.html && exec httpd -f -p 8080 -h /www" >/dev/null 2>"$work/err-$name"
}

# ---- a. container -> a TCP server on the host's bridge address ----------------------------
python3 - "$GW" "$HOST_PORT" "$work/received" "$work/ready" <<'PY' 9>&- &
import socket, sys, time
addr, port, out, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port))
s.listen(8)
s.settimeout(1)
open(ready, "w").close()
end = time.time() + 300
while time.time() < end:
    try:
        c, peer = s.accept()
    except socket.timeout:
        continue
    c.settimeout(5)
    data = b""
    try:
        while b"\n" not in data:
            d = c.recv(4096)
            if not d:
                break
            data += d
        c.sendall(b"ack\n")
    except OSError:
        pass
    c.close()
    with open(out, "a") as f:
        f.write("%s %s\n" % (peer[0], data.decode(errors="replace").strip()))
PY
server_pid=$!
for _ in $(seq 50); do [ -e "$work/ready" ] && break; sleep 0.1; done
for rt in runvm runc; do
	out=$(timeout 60 "$D" run --rm --runtime=$rt rvtest sh -c "echo line-from-$rt | timeout 10 nc $GW $HOST_PORT" 2>"$work/last")
	{ echo "container said: $out"; echo "host received:"; cat "$work/received" 2>/dev/null; } >> "$work/last"
	check "$rt: container -> TCP server on the host's bridge address $GW:$HOST_PORT (line arrives from a ${GW%.*}.x address, reply comes back)" \
		eval 'grep -qs "^${GW%.*}\.[0-9]* line-from-$rt$" "$work/received" && [ "$out" = ack ]'
done
kill "$server_pid" 2>/dev/null; server_pid=

# ---- b. published ports: the host reaches the container's server --------------------------
serve runvm srv-vm served-by-runvm -p $PUB_VM:8080
serve runc srv-rc served-by-runc -p $PUB_RC:8080
for rt in runvm runc; do
	if [ $rt = runvm ]; then c=srv-vm port=$PUB_VM; else c=srv-rc port=$PUB_RC; fi
	text=served-by-$rt
	ip=$(inspect '{{.NetworkSettings.IPAddress}}' $c)
	eval "ip_$rt=\$ip"
	check "$rt: -p $port:8080, the host fetches the page via 127.0.0.1:$port (docker-proxy)" wait_page $c "http://127.0.0.1:$port/" $text
	out=$(fetch "http://$GW:$port/"); echo "got: $out" > "$work/last"
	check "$rt: ... and via $GW:$port (iptables DNAT)" test "$out" = $text
	out=$(fetch "http://$ip:8080/"); echo "ip '$ip' got: $out" > "$work/last"
	check "$rt: ... and via the container's address ${ip:-?}:8080" test -n "$ip" -a "$out" = $text
done

# ---- d. runvm <-> runc on the default bridge, by address -----------------------------------
out=$(timeout 20 "$D" exec srv-vm timeout 5 wget -qO- "http://$ip_runc:8080/" 2>&1); echo "got: $out" > "$work/last"
check "runvm container -> runc container by address ($ip_runc:8080)" test "$out" = served-by-runc
out=$(timeout 20 "$D" exec srv-rc timeout 5 wget -qO- "http://$ip_runvm:8080/" 2>&1); echo "got: $out" > "$work/last"
check "runc container -> runvm container by address (${ip_runvm:-?}:8080)" test -n "$ip_runvm" -a "$out" = served-by-runvm
out=$(timeout 20 "$D" exec srv-vm timeout 5 wget -qO- "http://$GW:$PUB_RC/" 2>&1); echo "got: $out" > "$work/last"
check "runvm container -> the runc container's published port via the gateway ($GW:$PUB_RC)" test "$out" = served-by-runc

# ---- h. the address, MAC, MTU and gateway docker assigned, as the container sees them -------
# guest_view C: "mac mtu ip/len gateway" from inside; docker_view C NETWORK MTU: the same from
# docker (the MTU is the network's: dockerd's default 1500 on the bridge, the -o on ours).
guest_view() {
	timeout 20 "$D" exec "$1" sh -c 'echo $(cat /sys/class/net/eth0/address) $(cat /sys/class/net/eth0/mtu) \
		$(ip -4 -o addr show dev eth0 | awk "{print \$4}") $(ip route | sed -n "s/^default via \([^ ]*\).*/\1/p")' 2>&1
}
docker_view() {
	echo "$(inspect "{{(index .NetworkSettings.Networks \"$2\").MacAddress}}" "$1") $3" \
		"$(inspect "{{with index .NetworkSettings.Networks \"$2\"}}{{.IPAddress}}/{{.IPPrefixLen}} {{.Gateway}}{{end}}" "$1")"
}
view_check() { # RUNTIME CONTAINER NETWORK MTU
	local g d
	g=$(guest_view "$2"); d=$(docker_view "$2" "$3" "$4")
	printf 'container: %s\ndocker:    %s\n' "$g" "$d" > "$work/last"
	check "$1: eth0 on $3 has docker's MAC, MTU, address and gateway (${d:-?})" test "$g" = "$d" -a -n "${d// /}"
}
view_check runvm srv-vm bridge 1500
view_check runc srv-rc bridge 1500

# ---- c. a user-defined network: embedded DNS, by name ---------------------------------------
"$D" network create --subnet $NET_SUBNET -o com.docker.network.driver.mtu=$NET_MTU $NET >"$work/last" 2>&1
check "docker network create $NET ($NET_SUBNET, MTU $NET_MTU)" eval '"$D" network inspect $NET >/dev/null 2>&1'
serve runvm rvsrv-vm named-runvm --network $NET
serve runc rvsrv-rc named-runc --network $NET
for c in rvsrv-vm rvsrv-rc; do
	ip=$(inspect "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" $c)
	eval "net_${c#rvsrv-}=\$ip"
	[ $c = rvsrv-vm ] && text=named-runvm || text=named-runc
	check "${c#rvsrv-}: server on $NET answers the host at ${ip:-?}:8080" wait_page $c "http://$ip:8080/" $text
done
view_check runvm rvsrv-vm $NET $NET_MTU
view_check runc rvsrv-rc $NET $NET_MTU
for rt in runvm runc; do
	timeout 90 "$D" run --rm --runtime=$rt --network $NET rvtest sh -c '
		for s in rvsrv-vm rvsrv-rc; do
			nslookup $s > /tmp/ns 2>&1
			echo "$s ns $(sed -n "/^Name:/,\$s/^Address:[[:space:]]*\([0-9.]*\)$/\1/p" /tmp/ns | head -1)"
			sed "s/^/  nslookup: /" /tmp/ns
			echo "$s page $(timeout 5 wget -qO- http://$s:8080/ 2>&1)"
		done; cat /etc/resolv.conf | grep ^nameserver' >"$work/out-$rt" 2>&1
	cp "$work/out-$rt" "$work/last"
	check "$rt client on $NET: nslookup rvsrv-vm gives its address (${net_vm:-?})" eval '[ -n "$net_vm" ] && grep -qx "rvsrv-vm ns $net_vm" "$work/out-$rt"'
	check "$rt client on $NET: wget http://rvsrv-vm:8080/ (a runvm server, by name)" grep -qx "rvsrv-vm page named-runvm" "$work/out-$rt"
	check "$rt client on $NET: nslookup rvsrv-rc gives its address (${net_rc:-?})" eval '[ -n "$net_rc" ] && grep -qx "rvsrv-rc ns $net_rc" "$work/out-$rt"'
	check "$rt client on $NET: wget http://rvsrv-rc:8080/ (a runc server, by name)" grep -qx "rvsrv-rc page named-runc" "$work/out-$rt"
done

# ---- g. --network container:<runvm container> is refused; runc's baseline shares it ---------
timeout 60 "$D" run --rm --runtime=runvm --network container:srv-vm rvtest true >"$work/last" 2>&1; rc=$?
check "runvm: --network container:<a runvm container> is refused (exit $rc) naming the reason" \
	eval '[ "$rc" != 0 ] && grep -q "network namespace of another runvm container" "$work/last"'
out=$(timeout 60 "$D" run --rm --runtime=runc --network container:srv-rc rvtest cat /sys/class/net/eth0/address 2>"$work/last")
mac=$(inspect '{{.NetworkSettings.MacAddress}}' srv-rc); echo "got '$out', srv-rc has '$mac'" >> "$work/last"
check "runc: --network container:<a runc container> shares its eth0" test -n "$mac" -a "$out" = "$mac"

# ---- the host as it was ---------------------------------------------------------------------
cleanup
saved=$hostnet_saved
hostnet_save "$work"
# A link changed, or one of the kinds this run makes or deletes (docker's veths and br-*, docker0,
# our bridge) come or gone, fails; other links come or gone belong to tests running alongside.
kinds="^(veth|br-|docker|$BR)"
names() { awk '{print $1}' "$1" | sort -u; }
changed=$(comm -12 <(names "$saved/links") <(names "$work/links") | while read -r l; do
	[ "$(grep "^$l " "$saved/links")" = "$(grep "^$l " "$work/links")" ] || echo "$l"; done)
came=$(comm -13 <(names "$saved/links") <(names "$work/links")) went=$(comm -23 <(names "$saved/links") <(names "$work/links"))
others=$(printf '%s\n' $came $went | grep -vE "$kinds")
[ -n "$others" ] && echo "# links come or gone meanwhile, not of this suite's kinds (another test?): $(echo $others)"
bad=$(printf '%s\n' $changed $(printf '%s\n' $came $went | grep -E "$kinds"))
{ echo "before:"; cat "$saved/links"; echo "after:"; cat "$work/links"; } > "$work/last"
check "the host's links are as before (ip -br link)${bad:+: $(echo $bad)}" test -z "${bad//[[:space:]]/}"
diff <(hostnet_rules "$saved/iptables") <(hostnet_rules "$work/iptables") > "$work/last"
diff <(hostnet_rules "$saved/ip6tables") <(hostnet_rules "$work/ip6tables") >> "$work/last"
check "iptables and ip6tables rules are as before" test ! -s "$work/last"
diff "$saved/sysctl" <(hostnet_sysctls_kept "$saved/sysctl" "$work/sysctl") > "$work/last"
came=$(cut -d= -f1 "$work/sysctl" | grep -vxF -f <(cut -d= -f1 "$saved/sysctl"))
[ -z "$came" ] || echo "# sysctls that came with a module dockerd loaded: $(echo $came)"
check "forwarding and bridge-netfilter sysctls are as before ($(tr '\n' ' ' < "$saved/sysctl"))" test ! -s "$work/last"
finish
