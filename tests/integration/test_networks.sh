#!/usr/bin/env bash
# Networks as resources against the real libvirtd: nat, isolated, routed and host-bridge
# networks made, checked with virsh net-info / net-dumpxml and the masquerade rules libvirt adds; a busybox container
# whose udhcpc receives its static address (read in the container's network namespace), keeps
# it across a replace (same MAC) and gets a changed ip: live (same domain id); a VM definition
# on the network with its host entry; drift (network stopped, host entry removed, autostart
# changed by hand) planned and put back; a subnet change replacing the network and restarting
# its guests; a libvirt network kvz did not make left alone; deletion and destroy.
# Packets only go between the host and guests on the bridges this test makes (DHCP, and one
# busybox ping of the gateway from inside the container). Everything is named kvzt-<pid>-*; all
# removed at exit. Subnets are 10.200.X.0/24 with X picked from the pid among unused ones.
set -uo pipefail
kvz=${KVZ_BINARY:?KVZ_BINARY must name the kvz binary}
src=${KVZ_SOURCE_DIR:?}
p=kvzt-$$
work=$(mktemp -d /tmp/$p-net-XXXXXX)
chmod 755 "$work"
state=$work/state
export KVZ_STATE_DIR=$state NO_COLOR=1 KVZ_VM_STOP_TIMEOUT=2
lxc=lxc:///system
qemu=qemu:///system
nat=$p-nat iso=$p-iso routed=$p-routed up=$p-up foreign=$p-foreign ct=$p-c1 vm=$p-vm
hostbr=kvzt$$br # a host bridge for mode bridge (15 characters at most)

fails=0
. "$(dirname "$0")/shlib.sh"
cleanup() {
  remove_domains $lxc "$p-"
  remove_domains $qemu "$p-"
  remove_networks $qemu "$p-"
  remove_pools $qemu "$work"
  ip link del "$hostbr" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

netinfo() { virsh -q -c $qemu net-info "$1" 2>/dev/null | awk -F': *' -v k="$2" '$1 == k {print $2}'; }
netxml() { virsh -q -c $qemu net-dumpxml "$@" 2>/dev/null; }
ctid() { virsh -q -c $lxc domid "$ct" 2>/dev/null | tr -d ' '; }
mac_of() { virsh -q -c "$1" domiflist "$2" 2>/dev/null | awk '$5 ~ /:/ {print $5; exit}'; }
init_pid() { pgrep -P "$(ctid)" | head -1; }
# the IPv4 address of eth0 inside the container's own network namespace
ct_addr() { nsenter -t "$(init_pid)" -n ip -4 -o addr show dev eth0 2>/dev/null | awk '{print $4}'; }
wait_addr() { # wait_addr WANT: up to 60 s for udhcpc to set it
  for _ in $(seq 1 120); do
    [[ $(ct_addr) == "$1" ]] && return 0
    sleep 0.5
  done
  echo "    eth0 of $ct has '$(ct_addr)', wanted '$1'"
  return 1
}

# Third octets of 10.200.X.0 in use by any interface or any libvirt network (even inactive).
used=$( { ip -4 -o addr; for n in $(virsh -q -c $qemu net-list --all --name); do netxml --inactive "$n"; done; } |
  grep -o '10\.200\.[0-9]*\.' | cut -d. -f3 | sort -u)
pick=()
for i in $(seq 0 255); do
  x=$((($$ + i * 7) % 250 + 1))
  grep -qx "$x" <<<"$used" || [[ " ${pick[*]} " == *" $x "* ]] || pick+=("$x")
  [[ ${#pick[@]} == 5 ]] && break
done
A=10.200.${pick[0]} B=10.200.${pick[1]} C=10.200.${pick[2]} D=10.200.${pick[3]} E=10.200.${pick[4]}
ip link add "$hostbr" type bridge || { echo "cannot make the host bridge $hostbr"; exit 1; }

"$src/tests/integration/busybox-template" "$work/tpl" dhcp >/dev/null || { echo "cannot build the template"; exit 1; }
sha=$(cut -d' ' -f1 "$work/tpl/SHA256SUMS")
# a second template, another digest: changing to it replaces the container
mkdir "$work/r2" && tar -C "$work/r2" -xzf "$work/tpl/busybox-rootfs.tar.gz" && echo 2 >"$work/r2/etc/variant" &&
  tar --numeric-owner -C "$work/r2" -czf "$work/tpl2.tar.gz" . || { echo "cannot build template 2"; exit 1; }
sha2=$(sha256sum "$work/tpl2.tar.gz" | cut -d' ' -f1)
qemu-img create -q -f qcow2 "$work/blank.qcow2" 64M
shab=$(sha256sum "$work/blank.qcow2" | cut -d' ' -f1)

m=$work/kvz.yaml
manifest() { # manifest ISO_NET CT_IP CT_TEMPLATE [extra network YAML]
  cat >"$m" <<YAML
kvz: 1
stack: $p
templates:
  bb: {url: "file://$work/tpl/busybox-rootfs.tar.gz", sha256: $sha}
  bb2: {url: "file://$work/tpl2.tar.gz", sha256: $sha2}
  blank: {url: "file://$work/blank.qcow2", sha256: $shab}
networks:
  $nat:
    mode: nat
    subnet: $A.0/24
  $iso:
    mode: isolated
    subnet: $1.0/24
  $routed:
    mode: routed
    subnet: $E.0/24
  $up:
    mode: bridge
    bridge: $hostbr
${4:-}
containers:
  $ct:
    template: $3
    memory: 64MiB
    network: $iso
    ip: $2
vms:
  $vm:
    image: blank
    memory: 128MiB
    network: $iso
    ip: $1.20
YAML
}

# --- create: networks first, each as asked
manifest "$B" "$B.10" bb
run 0 "$kvz" validate -f "$m" && has "valid (4 networks, 1 container, 1 vm, 3 templates)" && ok "validate counts networks"
run 2 "$kvz" plan -f "$m" --detailed-exitcode && has "+ $nat (network)" && has "lease $ct: $B.10" &&
  has "Plan: 6 to create" && ok "plan creates the networks with the leases"
run 0 "$kvz" doctor -f "$m" && has "dnsmasq:" && has "nat:" && has "bridge module:" &&
  has "bridge: '$hostbr' exists" && ok "doctor checks what networks need"
run 0 "$kvz" apply -f "$m" --auto-approve && has "$nat (network): create done" && ok "apply"
check "nat active" test "$(netinfo "$nat" Active)" = yes
check "nat autostart" test "$(netinfo "$nat" Autostart)" = yes
check "nat's bridge has kvz's stable name" grep -qx 'kvz-[0-9a-f]\{11\}' <<<"$(netinfo "$nat" Bridge)"
check "iso active" test "$(netinfo "$iso" Active)" = yes
x=$(netxml "$nat")
check "nat forwards with NAT" grep -q "<forward mode='nat'" <<<"$x"
check "nat's gateway is the first address" grep -q "<ip address='$A.1' prefix='24'>" <<<"$x"
check "nat's DHCP range is the rest" grep -q "<range start='$A.2' end='$A.254'/>" <<<"$x"
check "kvz's ownership in the network's metadata" grep -q "<kvz:stack>$p</kvz:stack>" <<<"$(netxml --inactive "$nat")"
check "the state dir in the network's metadata" grep -q "<kvz:state-dir>$state</kvz:state-dir>" <<<"$(netxml --inactive "$nat")"
KVZ_STATE_DIR=$work/other run 1 "$kvz" plan -f "$m" &&
  has "network '$nat' was made with state dir '$state', which holds its lock, not '$work/other'" &&
  ok "another state dir leaves the network alone"
check "libvirt's masquerade rule for the nat subnet" grep -q -- "-s $A.0/24 .*-j MASQUERADE" <<<"$(iptables -t nat -S)"
check "routed: forwards by routing" grep -q "<forward mode='route'/>" <<<"$(netxml "$routed")"
check "routed active" test "$(netinfo "$routed" Active)" = yes
x=$(netxml "$up")
check "host bridge network: libvirt's bridge mode on it" grep -q "<forward mode='bridge'/>" <<<"$x"
check "host bridge named" grep -q "<bridge name='$hostbr'/>" <<<"$x"
check "nothing made on the host bridge (no address)" test -z "$(ip -4 -o addr show dev "$hostbr")"
x=$(netxml "$iso")
check "isolated: no forward" eval '! grep -q "<forward" <<<"$x"'
ctmac=$(mac_of $lxc "$ct") vmmac=$(mac_of $qemu "$vm")
check "container's host entry by its MAC" grep -q "<host mac='$ctmac' name='$ct' ip='$B.10'/>" <<<"$x"
check "vm's host entry by its MAC" grep -q "<host mac='$vmmac' name='$vm' ip='$B.20'/>" <<<"$x"
run 0 "$kvz" plan -f "$m" --detailed-exitcode && has "No changes" && ok "second plan is empty"

# --- the container's DHCP client receives its static address
check "udhcpc in the container got $B.10" wait_addr "$B.10/24"
run 0 "$kvz" status -f "$m" && has "$iso" && has "isolated" && has "$B.0/24" && has "$B.1" &&
  has "$ct" && has "$B.10 (static, leased)" && ok "status shows the network and the guest's lease"
run 0 "$kvz" status -f "$m" --json && has "\"subnet\": \"$B.0/24\"" && has "\"gateway\": \"$B.1\"" &&
  has "\"guest\": \"$ct\"" && has "\"leased\": \"$B.10\"" && ok "status --json shows addresses and leases"

# --- an ip change is live: same domain id, the next renewal gets the new address
id=$(ctid)
manifest "$B" "$B.11" bb
run 2 "$kvz" plan -f "$m" --detailed-exitcode && has "~ $iso (network) (live)" &&
  has "lease $ct: $B.10 -> $B.11" && lacks "$ct (container)" && ok "ip change planned live on the network"
run 0 "$kvz" plan -f "$m" -o "$work/ip.plan" && ok "ip change saved as a plan file"
run 0 "$kvz" apply "$work/ip.plan" --max-disruption live && has "$iso (network): update done" &&
  ok "the saved plan applied under --max-disruption live"
check "same domain id after the ip change" test "$(ctid)" = "$id"
check "host entry changed" grep -q "ip='$B.11'" <<<"$(netxml "$iso")"
check "the definition too" grep -q "ip='$B.11'" <<<"$(netxml --inactive "$iso")"
kill -USR1 "$(pgrep -P "$(init_pid)" -x udhcpc)" 2>/dev/null
check "the renewed lease is $B.11" wait_addr "$B.11/24"

# --- a replace keeps the MAC, so the address
manifest "$B" "$B.11" bb2
run 2 "$kvz" plan -f "$m" --detailed-exitcode && has "-/+ $ct (container)" && lacks "(network)" && ok "template change replaces only the container"
run 0 "$kvz" apply -f "$m" --auto-approve && ok "replace"
check "a new domain" test "$(ctid)" != "$id"
check "same MAC after the replace" test "$(mac_of $lxc "$ct")" = "$ctmac"
check "same address after the replace" wait_addr "$B.11/24"

# --- drift: a host entry removed, autostart disabled, the network stopped, by hand
virsh -q -c $qemu net-update "$iso" delete ip-dhcp-host "<host mac='$ctmac'/>" --live --config >/dev/null
virsh -q -c $qemu net-autostart "$nat" --disable >/dev/null
run 2 "$kvz" plan -f "$m" --detailed-exitcode && has "lease $ct: (none) -> $B.11" &&
  has "autostart: false -> true" && has "changed outside kvz" && ok "hand changes show as drift"
run 0 "$kvz" apply -f "$m" --auto-approve && ok "drift put back"
check "host entry back" grep -q "<host mac='$ctmac' name='$ct' ip='$B.11'/>" <<<"$(netxml "$iso")"
check "autostart back" test "$(netinfo "$nat" Autostart)" = yes
virsh -q -c $qemu net-destroy "$nat" >/dev/null
run 2 "$kvz" plan -f "$m" --detailed-exitcode && has "> $nat (network) (start)" && has "stopped outside kvz" && ok "a stopped network shows"
run 0 "$kvz" apply -f "$m" --auto-approve && ok "started again"
check "nat active again" test "$(netinfo "$nat" Active)" = yes
run 0 "$kvz" plan -f "$m" --detailed-exitcode && has "No changes" && ok "converged after drift"

# --- a subnet change replaces the network and restarts the guests on it
id=$(ctid)
manifest "$C" "$C.11" bb2
run 2 "$kvz" plan -f "$m" --detailed-exitcode && has "-/+ $iso (network)" && has "subnet: $B.0/24 -> $C.0/24" &&
  has "~ $ct (container) (restart)" && has "~ $vm (vm) (restart)" && has "attached guests restart: $ct, $vm" &&
  ok "subnet change: replace, attached guests listed"
run 3 "$kvz" apply -f "$m" --auto-approve --max-disruption restart && has "beyond --max-disruption restart" && ok "--max-disruption restart refuses it"
check "nothing changed by the refused apply" grep -q "$B.1" <<<"$(netxml "$iso")"
run 0 "$kvz" apply -f "$m" --auto-approve && ok "replace of the network"
check "new subnet" grep -q "<ip address='$C.1' prefix='24'>" <<<"$(netxml "$iso")"
check "container restarted" test "$(ctid)" != "$id"
check "the restarted container has $C.11" wait_addr "$C.11/24"
check "and reaches the new gateway" eval "nsenter -t $(init_pid) -n -m /bin/busybox ping -c 1 -W 5 $C.1 >/dev/null"
check "vm's host entry on the new network" grep -q "<host mac='$vmmac' name='$vm' ip='$C.20'/>" <<<"$(netxml "$iso")"
run 0 "$kvz" plan -f "$m" --detailed-exitcode && has "No changes" && ok "converged after the replace"

# --- a libvirt network of the same name that kvz did not make is never touched
cat >"$work/foreign.xml" <<XML
<network><name>$foreign</name><bridge stp='on' delay='0'/><ip address='$D.1' prefix='24'/></network>
XML
virsh -q -c $qemu net-define "$work/foreign.xml" >/dev/null
before=$(netxml --inactive "$foreign")
manifest "$C" "$C.11" bb2 "  $foreign: {mode: isolated, subnet: $D.0/24}"
run 1 "$kvz" plan -f "$m" && has "network '$foreign': a libvirt network of that name exists and is not managed by kvz" && ok "plan refuses a same-named network"
run 1 "$kvz" apply -f "$m" --auto-approve && ok "apply refuses it too"
check "the foreign network untouched" test "$(netxml --inactive "$foreign")" = "$before"
virsh -q -c $qemu net-undefine "$foreign" >/dev/null

# --- removing a network a guest still uses is an error; one without guests is deleted after them
python3 - "$m" "$iso" <<'PY'
import sys
m, iso = sys.argv[1], sys.argv[2]
s = open(m).read()
a = s.index("  " + iso + ":")
b = s.index("containers:")
s = s[:a] + s[b:]
open(m, "w").write("".join(l for l in s.splitlines(True) if not l.startswith("    ip: ")))
PY
run 1 "$kvz" plan -f "$m" && has "network '$iso' is not in the manifests, but container '$ct' still has network: $iso" && ok "a network in use is not removed"
manifest "$C" "$C.11" bb2
sed -i "/^  $nat:/,/subnet:/d; /^  $up:/,/bridge:/d" "$m"
run 2 "$kvz" plan -f "$m" --detailed-exitcode && has "- $nat (network)" && has "- $up (network)" && ok "plan deletes the unused networks"
run 0 "$kvz" apply -f "$m" --auto-approve && ok "delete"
check "nat network gone" test -z "$(netinfo "$nat" Active)"
check "the host bridge stays" test -e "/sys/class/net/$hostbr/bridge"

# --- destroy: guests first, then the network
run 0 "$kvz" destroy -f "$m" --auto-approve && ok "destroy"
check "no network of the test left" test -z "$(virsh -q -c $qemu net-list --all --name | grep "^$p-")"
check "no guest of the test left" test -z "$(virsh -q -c $lxc list --all --name | grep "^$p-")$(virsh -q -c $qemu list --all --name | grep "^$p-")"

finish
