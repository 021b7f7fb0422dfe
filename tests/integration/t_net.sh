# The container's network (runtime/network.h): a network namespace with a veth, as Docker and
# CNI make them, taken over by the guest. Sourced by run.sh.

netns=rvit$$
veth=rvit$$h
# A run killed outright leaves its namespace and veth, whose subnet would shadow this run's:
# those of runs that are gone go first.
for l in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -x 'rvit[0-9]*'); do
	kill -0 "${l#rvit}" 2>/dev/null || ip netns del "$l"
done
for l in $(ip -br link | awk '{sub(/@.*/, "", $1); print $1}' | grep -x 'rvit[0-9]*h'); do
	l=${l%h}; kill -0 "${l#rvit}" 2>/dev/null || ip link del "${l}h"
done
# The subnet: the first 10.213.N.0/24, N from 50, that no route of the host is on (runs side by
# side get one each), picked and taken under a lock (where there is flock: the nested host VM,
# with one run only, has none); the host's TCP server port goes with it.
exec 8>/tmp/runvm-it-net.lock
! command -v flock >/dev/null || flock -w 60 8
for sub in $(seq 50 99); do ip -4 route | grep -q "^10\.213\.$sub\." || break; done
net=10.213.$sub port=$((18181 + sub))
ip netns add "$netns"
undo+=("ip netns del $netns" "ip link del $veth")
ip link add "$veth" type veth peer name eth0 netns "$netns"
ip addr add $net.1/24 dev "$veth"
exec 8>&-
ip link set "$veth" up
ip -n "$netns" link set lo up
ip -n "$netns" link set eth0 mtu 1400 up
ip -n "$netns" addr add $net.2/24 dev eth0
ip -n "$netns" route add default via $net.1
# As Docker does on an IPv4-only network: the guest's eth0 follows.
ip netns exec "$netns" sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1
ns_mac=$(ip netns exec "$netns" cat /sys/class/net/eth0/address)
in_ns='c["linux"]["namespaces"] = [{"type": t} for t in ("pid", "ipc", "uts", "mount")] + [{"type": "network", "path": "/var/run/netns/'$netns'"}]'

rv t-nonet '["sh","-c","tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d \" \""]'
check "a new network namespace: loopback only, as with runc" test "$rc" = 0 -a "$out" = lo

rv t-netid '["sh","-c","cat /sys/class/net/eth0/address /sys/class/net/eth0/mtu /proc/sys/net/ipv6/conf/eth0/disable_ipv6; ip -4 -o addr show dev eth0 | tr -s \" \" | cut -d\" \" -f4; ip route | grep ^default | sed \"s/ *$//\""]' "$in_ns"
check "the guest's eth0 has the namespace's MAC, MTU, IPv6 setting, address and default route" \
	test "$rc" = 0 -a "$out" = "$(printf '%s\n1400\n1\n%s.2/24\ndefault via %s.1 dev eth0' "$ns_mac" $net $net)"

# Guest -> host: a line to a server on the host's end of the veth.
timeout 30 busybox nc -l -p $port > "$work/net-recv" 2>/dev/null &
srv=$!
rv t-netout '["sh","-c","echo line-from-the-guest | nc '"$net.1 $port"'"]' "$in_ns"
wait "$srv"
out=$(cat "$work/net-recv")
check "guest -> host: TCP to the host's address" test "$rc" = 0 -a "$out" = line-from-the-guest

# Docker's embedded DNS listens on the namespace's loopback; the agent proxies to it. A stand-in
# (fakedns.py ADDRESS) answers every A query with 10.1.2.3; dnsq.py ADDRESS asks it once.
cat > "$work/fakedns.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
while True:
    q, peer = s.recvfrom(4096)
    end = q.index(b"\0", 12) + 5                       # the end of the question
    a = q[end - 4:end - 2] == b"\x00\x01"              # an A query: one answer
    an = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes([10, 1, 2, 3]) if a else b""
    s.sendto(q[:2] + b"\x81\x80" + q[4:6] + (b"\x00\x01" if a else b"\x00\x00") + bytes(4) + q[12:end] + an, peer)
PY
cat > "$work/dnsq.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(b"\x12\x34\x01\x00\x00\x01" + bytes(6) + b"\x04name\x07example\x00\x00\x01\x00\x01", (sys.argv[1], 53))
print(".".join(map(str, s.recv(512)[-4:])))
PY
ip netns exec "$netns" timeout 120 python3 "$work/fakedns.py" 127.0.0.11 &
dns_ns=$!
timeout 120 python3 "$work/fakedns.py" $net.1 &
dns_host=$!
printf 'nameserver 127.0.0.11\noptions ndots:0\n' > "$work/resolv.conf"
with_dns="$in_ns"'; c["mounts"].append({"destination": "/etc/resolv.conf", "type": "bind", "source": "'$work/resolv.conf'", "options": ["rbind", "ro"]})'
sleep 0.5
rv t-netdns '["sh","-c","nslookup some.name.example | grep -A1 ^Name: | tail -1"]' "$with_dns"
check "DNS: a resolver on the namespace's loopback answers through the agent's proxy" eval '[ "$rc" = 0 ] && [[ "$out" == *10.1.2.3* ]]'

# Host -> guest: a server in the container, fetched from the host.
make_config "$bundle" '["sh","-c","mkdir -p /tmp/www && echo served-by-the-guest > /tmp/www/index.html && exec timeout 60 httpd -f -p 8080 -h /tmp/www"]' "$with_dns"
"$RUNVM" --root "$root" run --bundle "$bundle" t-netsrv </dev/null >/dev/null 2>"$work/netsrv.err" &
runner=$!
out=
for _ in $(seq 120); do
	out=$(timeout 3 busybox wget -qO- http://$net.2:8080/ 2>/dev/null) && break
	sleep 0.25
done
check "host -> guest: HTTP from a server in the container" test "$out" = served-by-the-guest
web=$out
# Docker's resolver forwards other names upstream from inside the namespace: with the proxy on,
# the namespace's own stack still gets ARP and DNS answers while the guest owns the interface.
ip -n "$netns" neigh flush all
out=$(ip netns exec "$netns" python3 "$work/dnsq.py" $net.1 2>&1)
check "DNS: the namespace's own stack still reaches an upstream resolver" eval '[ "$web" = served-by-the-guest ] && [ "$out" = 10.1.2.3 ]'
make_config "$bundle" '["true"]' "$in_ns"
out=$("$RUNVM" --root "$root" run --bundle "$bundle" t-netshare 2>&1 </dev/null); rc=$?
err=$out
check "a second container on the same namespace is refused clearly" \
	eval '[ "$rc" != 0 ] && [[ "$out" == *"network namespace of another runvm container cannot be shared"* ]]'
"$RUNVM" --root "$root" kill t-netsrv KILL 2>/dev/null
wait "$runner"
out=$(ip netns exec "$netns" tc qdisc show dev eth0 ingress; ip -n "$netns" -br link | cut -d' ' -f1 | grep -v '^lo$')
check "after the container: no redirect and no tap left in the namespace" test "$out" = eth0@if"$(cat /sys/class/net/$veth/ifindex)"
kill "$dns_ns" "$dns_host" 2>/dev/null; wait "$dns_ns" "$dns_host" 2>/dev/null

# A monitor SIGKILLed while the guest owns the interface cannot take its redirect off: delete
# does (from what state.json recorded), and the namespace's stack has its interface back.
create_bg t-netkill '["sleep","600"]' "$in_ns"
"${R[@]}" start t-netkill
for _ in $(seq 200); do [ "$(status_of t-netkill)" = running ] && break; sleep 0.05; done
before=$(ip netns exec "$netns" tc qdisc show dev eth0 ingress)
kill -KILL "$mon_pid"; wait_status t-netkill >/dev/null
"${R[@]}" delete t-netkill 2>"$work/stderr"; rc=$?; err=$(cat "$work/stderr")
out="before delete: $before; after: $(ip netns exec "$netns" tc qdisc show dev eth0 ingress)"
check "monitor SIGKILLed: delete removes the tc redirect it left on the interface" \
	eval '[ "$rc" = 0 ] && [ -n "$before" ] && [ -z "$(ip netns exec "$netns" tc qdisc show dev eth0 ingress)" ] && nothing_left t-netkill'
