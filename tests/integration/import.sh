#!/usr/bin/env bash
# kvz import on the real libvirtd: a running container and a stopped VM that kvz did not make
# (defined with virsh) are adopted without a restart (same domain id), and then planned like
# kvz's own (a live memory change, a start); refused: another stack's domain, a VM with storage
# kvz cannot manage, a name the manifests lack; --dry-run records nothing.
# Every domain is named kvzt14-<pid>-*, in its own stacks and state dir; all removed at exit.
set -uo pipefail
kvz=${KVZ_BINARY:?KVZ_BINARY must name the kvz binary}
src=${KVZ_SOURCE_DIR:?}
p=kvzt14-$$
work=$(mktemp -d /tmp/$p-import-XXXXXX)
chmod 755 "$work"
export KVZ_STATE_DIR=$work/state NO_COLOR=1 KVZ_VM_STOP_TIMEOUT=2
fails=0
ct=$p-ct vm=$p-vm
. "$(dirname "$0")/shlib.sh"
cleanup() {
  remove_domains lxc:///system $p-
  remove_domains qemu:///system $p-
  remove_pools qemu:///system "$work"
  rm -rf "$work"
}
trap cleanup EXIT
lxc() { virsh -q -c lxc:///system "$@"; }
qemu() { virsh -q -c qemu:///system "$@"; }
domid() { virsh -q -c "$1" domid "$2" 2>/dev/null | tr -d ' '; }

"$src/tests/integration/busybox-template" "$work/tpl" || { echo "cannot build the template"; exit 1; }
mkdir "$work/rootfs" && tar -C "$work/rootfs" -xzf "$work/tpl/busybox-rootfs.tar.gz"
qemu-img create -q -f qcow2 "$work/blank.qcow2" 64M
qemu-img create -q -f qcow2 "$work/vm.qcow2" 64M
qemu-img create -q -f qcow2 "$work/second.qcow2" 16M

# --- guests kvz did not make: a running container, a stopped vm, a vm with two disks
cat >"$work/ct.xml" <<XML
<domain type='lxc'><name>$ct</name><memory unit='KiB'>65536</memory><vcpu>1</vcpu>
  <os><type>exe</type><init>/sbin/init</init></os>
  <devices><console type='pty'/>
    <filesystem type='mount'><source dir='$work/rootfs'/><target dir='/'/></filesystem>
  </devices></domain>
XML
vmxml() { # vmxml NAME DISK...
  local name=$1; shift
  printf "<domain type='qemu'><name>%s</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>\n" "$name"
  printf "<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>\n"
  local t=a
  for d in "$@"; do
    printf "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='%s'/><target dev='vd%s' bus='virtio'/></disk>\n" "$d" "$t"
    t=b
  done
  printf "<interface type='network'><mac address='52:54:00:14:00:01'/><source network='default'/><model type='virtio'/></interface>\n"
  printf "</devices></domain>\n"
}
vmxml "$vm" "$work/vm.qcow2" >"$work/vm.xml"
vmxml "$p-two" "$work/vm.qcow2" "$work/second.qcow2" >"$work/two.xml"
lxc define "$work/ct.xml" >/dev/null && lxc start "$ct" >/dev/null || { echo "cannot define the container"; exit 1; }
qemu define "$work/vm.xml" >/dev/null && qemu define "$work/two.xml" >/dev/null || { echo "cannot define the vms"; exit 1; }
id0=$(domid lxc:///system "$ct")

m=$work/kvz.yaml
cat >"$m" <<YAML
kvz: 1
stack: $p
templates:
  bb:
    url: file://$work/tpl/busybox-rootfs.tar.gz
  blank:
    url: file://$work/blank.qcow2
containers:
  $ct:
    template: bb
    memory: 96MiB
    network: none
vms:
  $vm:
    image: blank
    memory: 128MiB
    disk: 64MiB
    network: default
  $p-two:
    image: blank
    memory: 128MiB
YAML

# --- before: kvz leaves them alone
run 1 "$kvz" plan -f "$m" && has "$ct" && ok "plan refuses to touch guests it did not make"

run 0 "$kvz" import -f "$m" --dry-run "$ct" "$vm" && has "would import container '$ct' (running, domain id $id0): storage $work/rootfs" &&
  has "would import vm '$vm' (stopped): disk $work/vm.qcow2, mac 52:54:00:14:00:01, memory 128MiB, cpus 1" && ok "--dry-run says what it would record"
check "--dry-run recorded nothing" bash -c "! virsh -c lxc:///system dumpxml $ct | grep -q kvz.dev"

# --- refusals
run 1 "$kvz" import -f "$m" "$p-two" && has "vm '$p-two': kvz cannot take its storage over: it has several disks" && ok "two disks refused"
run 1 "$kvz" import -f "$m" "$p-nope" && has "'$p-nope' is not in the manifests" && ok "a name the manifests lack refused"
mo=$work/other.yaml
sed -e "s/^stack: .*/stack: $p-other/" -e "/^vms:/,\$d" -e "s/$ct:/$p-oct:/" "$m" >"$mo"
run 0 "$kvz" apply -f "$mo" --auto-approve && ok "another stack's container made"
sed -e "s/$ct:/$p-oct:/" "$m" >"$work/steal.yaml"
run 1 "$kvz" import -f "$work/steal.yaml" "$p-oct" && has "container '$p-oct' belongs to stack '$p-other'" && ok "another stack's domain refused"

# --- import: no restart, same domain id; then planned as kvz's own
run 0 "$kvz" import -f "$m" "$ct" "$vm" && has "imported container '$ct' (running, domain id $id0)" && has "imported vm '$vm' (stopped)" && ok "imported"
check "the container kept its domain id (no restart)" test "$(domid lxc:///system "$ct")" = "$id0"
check "the vm is still stopped" test "$(qemu domstate "$vm")" = "shut off"
check "kvz's metadata is on the container, live and in its definition" bash -c "virsh -c lxc:///system dumpxml $ct | grep -q kvz.dev && virsh -c lxc:///system dumpxml --inactive $ct | grep -q kvz.dev"
run 0 "$kvz" import -f "$m" "$ct" && has "is this stack's already" && ok "a second import records nothing"
sed -i "/^  $p-two:/,\$d" "$m"
run 2 "$kvz" plan -f "$m" --detailed-exitcode && has "~ $ct (container) (live)" && has "memory: 64MiB -> 96MiB" &&
  has "> $vm (vm) (start)" && lacks "-/+" && ok "the plan: a live change and a start, no replace"
run 0 "$kvz" apply -f "$m" --auto-approve && ok "applied"
check "still the same container process (domain id)" test "$(domid lxc:///system "$ct")" = "$id0"
check "the kernel enforces the manifest's memory" test "$(ct_memory_limit lxc:///system "$ct")" = $((96 << 20))
check "the vm runs from its own disk" bash -c "virsh -c qemu:///system domblklist $vm | grep -q '$work/vm.qcow2'"
run 0 "$kvz" plan -f "$m" --detailed-exitcode && ok "then nothing to do"
run 0 "$kvz" destroy -f "$m" --auto-approve && ok "destroyed"
check "destroy left the container's own rootfs (not kvz's files)" test -x "$work/rootfs/sbin/init"
run 0 "$kvz" destroy -f "$mo" --auto-approve
finish
