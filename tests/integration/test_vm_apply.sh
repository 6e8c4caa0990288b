#!/usr/bin/env bash
# The plan/apply loop for VMs against the real libvirtd (qemu:///system), from a blank
# qcow2 image served as a file:// template: create as an overlay, nothing to do on a
# second plan, live changes within the maxima (same domain id), drift planned back, a
# restart above the maxima refused by --max-disruption live then applied, cdrom swap and
# eject live, the seed private, destroy removing the base and the pool once no guest uses them. The guest runs no OS (TCG), so it ignores ACPI: KVZ_VM_STOP_TIMEOUT is short.
# Every domain is named kvzt-<pid>-*, in its own stack and state dir; all removed at exit.
set -uo pipefail
kvz=${KVZ_BINARY:?KVZ_BINARY must name the kvz binary}
uri=qemu:///system
p=kvzt-$$
work=$(mktemp -d /tmp/$p-vmapply-XXXXXX)
chmod 755 "$work"
state=$work/state
export KVZ_STATE_DIR=$state NO_COLOR=1 KVZ_VM_STOP_TIMEOUT=2
fails=0
vm=$p-vm1

cleanup() {
  for d in $(virsh -q -c $uri list --all --name 2>/dev/null | grep "^$p-"); do
    virsh -q -c $uri destroy "$d" >/dev/null 2>&1
    virsh -q -c $uri undefine --nvram "$d" >/dev/null 2>&1
  done
  for pool in $(virsh -q -c $uri pool-list --all --name 2>/dev/null | grep '^kvz-'); do
    if virsh -q -c $uri pool-dumpxml "$pool" 2>/dev/null | grep -q "<path>$state/pool</path>"; then
      virsh -q -c $uri pool-destroy "$pool" >/dev/null 2>&1
      virsh -q -c $uri pool-undefine "$pool" >/dev/null 2>&1
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

. "$(dirname "$0")/shlib.sh"
domid() { virsh -q -c $uri domid "$vm" 2>/dev/null | tr -d ' '; }

qemu-img create -q -f qcow2 "$work/blank.qcow2" 64M
sha=$(sha256sum "$work/blank.qcow2" | cut -d' ' -f1)
# two install media, told apart by their content
for i in 1 2; do
  mkdir -p "$work/iso$i" && echo "medium $i" >"$work/iso$i/README"
  xorriso -as mkisofs -quiet -V "KVZT$i" -o "$work/media$i.iso" "$work/iso$i" 2>/dev/null
done
manifest() { # manifest MEMORY MAX_MEMORY CPUS MAX_CPUS DISK [CDROM]
  cat >"$work/kvz.yaml" <<YAML
kvz: 1
stack: $p
templates:
  blank:
    url: file://$work/blank.qcow2
    sha256: $sha
  media1:
    url: file://$work/media1.iso
  media2:
    url: file://$work/media2.iso
    sha256: $(sha256sum "$work/media2.iso" | cut -d' ' -f1)
vms:
  $vm:
    image: blank
    memory: $1
    max_memory: $2
    cpus: $3
    max_cpus: $4
    disk: $5
${6:+    cdrom: $6}
YAML
}
m=(-f "$work/kvz.yaml")

manifest 256MiB 512MiB 1 2 128MiB
# The plan warns when vms will run without KVM: /dev/kvm missing or kvm_pvm's (as here).
run 2 "$kvz" plan "${m[@]}" --detailed-exitcode
if [[ ! -e /dev/kvm || -e /sys/module/kvm_pvm ]]; then
  check "plan warns that vms run under TCG" has "will run under TCG emulation"
else
  check "plan does not warn on a KVM host" lacks "TCG"
fi
run 0 "$kvz" apply "${m[@]}" --auto-approve && ok "create applied"
overlay=$state/pool/$vm.qcow2
check "the disk is an overlay on the base" \
  sh -c "qemu-img info -U --output=json '$overlay' | grep -q '\"backing-filename\": \".*/pool/base-'"
run 0 "$kvz" plan "${m[@]}" --detailed-exitcode && ok "second plan: nothing to do"
id=$(domid)
check "running" test -n "$id"

manifest 384MiB 512MiB 2 2 192MiB
run 0 "$kvz" plan "${m[@]}" && check "plan says live" has "(live)"
run 0 "$kvz" apply "${m[@]}" --auto-approve --max-disruption live && ok "live update applied"
check "same domain id after live changes" test "$(domid)" = "$id"
check "vcpus hotplugged" test "$(virsh -q -c $uri vcpucount "$vm" --live --active)" = 2
check "disk grown" sh -c "virsh -q -c $uri domblkinfo '$vm' vda | grep -q 'Capacity: *201326592'"
run 0 "$kvz" plan "${m[@]}" --detailed-exitcode && ok "converged after the live update"

virsh -q -c $uri setmem "$vm" 300M --config >/dev/null
virsh -q -c $uri destroy "$vm" >/dev/null
run 2 "$kvz" plan "${m[@]}" --detailed-exitcode && check "drift: memory and stop planned back" \
  has "memory: 300MiB -> 384MiB"
run 0 "$kvz" apply "${m[@]}" --auto-approve && ok "drift applied back"
run 0 "$kvz" plan "${m[@]}" --detailed-exitcode && ok "converged after drift"

id=$(domid)
manifest 768MiB 1GiB 2 2 192MiB
run 3 "$kvz" apply "${m[@]}" --auto-approve --max-disruption live &&
  check "restart refused under --max-disruption live" has "beyond --max-disruption live"
check "refused apply changed nothing" test "$(domid)" = "$id"
run 0 "$kvz" apply "${m[@]}" --auto-approve && ok "restart applied"
check "a restart: new domain id" test "$(domid)" != "$id"
check "new maximum" sh -c "virsh -q -c $uri dominfo '$vm' | grep -q 'Max memory: *1048576 KiB'"

manifest 768MiB 1GiB 2 2 128MiB
run 1 "$kvz" plan "${m[@]}" && check "shrink refused" has "cannot shrink"

# issue 8 item 2: the seed is derived from the manifest: rebuilt live, never a replace
manifest 768MiB 1GiB 2 2 192MiB
seed=$state/pool/$vm-seed.iso
id=$(domid)
rm -f "$seed"
run 2 "$kvz" plan "${m[@]}" --detailed-exitcode && has "~ $vm (vm) (live)" && has "seed: missing -> rebuilt" &&
  lacks "-/+" && ok "a missing seed is planned as a live rebuild"
run 0 "$kvz" apply "${m[@]}" --auto-approve && check "the seed is back" test -f "$seed"
check "same domain id after the seed rebuild" test "$(domid)" = "$id"
run 0 "$kvz" plan "${m[@]}" --detailed-exitcode && ok "converged after the seed rebuild"

rm -f "$overlay"
manifest 768MiB 1GiB 2 2 192MiB
run 2 "$kvz" plan "${m[@]}" --detailed-exitcode && check "missing overlay planned as replace" has "-/+"
run 0 "$kvz" apply "${m[@]}" --auto-approve && check "replaced" test -f "$overlay"

# The seed holds user_data: no one but its owner reads it, yet qemu did (the VM runs).
check "seed unreadable by others" test "$(stat -c %a "$state/pool/$vm-seed.iso")" = 600
check "the VM runs with it" test -n "$(domid)"

# cdrom changes are planned, and swapping or ejecting a medium is live: same domain id.
manifest 768MiB 1GiB 2 2 192MiB media1
run 0 "$kvz" apply "${m[@]}" --auto-approve && ok "install medium added"
medium() { virsh -q -c $uri domblklist "$vm" --details | awk '$2 == "cdrom" && $3 == "sdb" {print $4}'; }
check "medium 1 in the drive" cmp -s "$(medium)" "$work/media1.iso"
id=$(domid)
manifest 768MiB 1GiB 2 2 192MiB media2
run 2 "$kvz" plan "${m[@]}" --detailed-exitcode && check "a cdrom swap is planned, live"   grep -qE "cdrom: sha256:[0-9a-f]{12} -> media2" <<<"$out"
check "the swap is the plan's only change, and live" has "1 to update (1 live, 0 restart)"
run 0 "$kvz" apply "${m[@]}" --auto-approve --max-disruption live && ok "cdrom swapped"
check "swapped with the same domain id" test "$(domid)" = "$id"
check "medium 2 in the drive" cmp -s "$(medium)" "$work/media2.iso"
run 0 "$kvz" plan "${m[@]}" --detailed-exitcode && ok "converged after the swap"
manifest 768MiB 1GiB 2 2 192MiB
run 2 "$kvz" plan "${m[@]}" --detailed-exitcode && check "an eject is planned" has "cdrom: sha256:"
run 0 "$kvz" apply "${m[@]}" --auto-approve --max-disruption live && ok "cdrom ejected"
check "ejected with the same domain id" test "$(domid)" = "$id"
check "the drive is empty" test "$(medium)" = "-"
run 0 "$kvz" plan "${m[@]}" --detailed-exitcode && ok "converged after the eject"

# A second stack in the same state dir shares the base: destroying the first keeps it.
cat >"$work/other.yaml" <<YAML
kvz: 1
stack: $p-b
templates:
  blank:
    url: file://$work/blank.qcow2
    sha256: $sha
vms:
  $p-vm2:
    image: blank
    memory: 128MiB
    state: stopped
YAML
run 0 "$kvz" apply -f "$work/other.yaml" --auto-approve && ok "second stack applied"
pool=kvz-$(printf '%s' "$state" | sha256sum | cut -c1-12)

run 0 "$kvz" destroy "${m[@]}" --auto-approve && ok "destroy applied"
check "domain gone" sh -c "! virsh -q -c $uri dominfo '$vm' >/dev/null 2>&1"
check "overlay and seed gone" sh -c "! ls '$state/pool' | grep -q '^$vm'"
check "base kept: the other stack's VM uses it" sh -c "ls '$state/pool' | grep -q '^base-'"
check "pool kept" sh -c "virsh -q -c $uri pool-info '$pool' >/dev/null"

# The last guest gone: no base volume, no pool (nor its autostart) is left behind.
run 0 "$kvz" destroy -f "$work/other.yaml" --auto-approve && ok "second stack destroyed"
check "destroy said what storage went" has "unused vm storage"
check "base volumes gone" sh -c "! ls '$state/pool' 2>/dev/null | grep -q '^base-'"
check "pool gone" sh -c "! virsh -q -c $uri pool-info '$pool' >/dev/null 2>&1"

# A VM deleted by an apply (gone from the manifest) leaves its base; templates prune removes
# what no guest uses, the pool too.
manifest 128MiB 128MiB 1 1 128MiB
run 0 "$kvz" apply "${m[@]}" --auto-approve && ok "recreated"
cat >"$work/empty.yaml" <<YAML
kvz: 1
stack: $p
YAML
run 0 "$kvz" apply -f "$work/empty.yaml" --auto-approve && ok "vm removed from the manifest: deleted"
check "its base is still there" sh -c "ls '$state/pool' | grep -q '^base-'"
run 0 "$kvz" templates prune -f "$work/empty.yaml" && check "templates prune said what storage went" \
  has "unused vm storage"
check "templates prune removed the base" sh -c "! ls '$state/pool' 2>/dev/null | grep -q '^base-'"
check "templates prune removed the pool" sh -c "! virsh -q -c $uri pool-info '$pool' >/dev/null 2>&1"

finish
