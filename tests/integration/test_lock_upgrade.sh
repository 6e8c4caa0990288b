#!/usr/bin/env bash
# kvz.lock's upgrade flow against the real libvirtd (issue 13): a container from a signed
# aplinfo catalog and a VM from a signed simplestreams catalog (a blank qcow2; under TCG it
# need not boot), locked and applied; a newer entry of each published; plan keeps them; lock
# --upgrade prints old -> new and names both guests; status shows the version each was made
# from and that a newer one is locked; a saved plan replaces both with exactly the locked ones.
# Then a SUMS template locked after its guest was made and the cache cleared: no replace.
# Every domain is named kvzt13-<pid>-*, in its own stack and state dir; all removed at exit.
set -uo pipefail
kvz=${KVZ_BINARY:?}
src=${KVZ_SOURCE_DIR:?}
p=kvzt13-$$
work=$(mktemp -d /tmp/$p-lock-XXXXXX)
chmod 755 "$work"
state=$work/state
export KVZ_STATE_DIR=$state NO_COLOR=1 KVZ_VM_STOP_TIMEOUT=2 GNUPGHOME=$work/gpg
fails=0
srv=
. "$(dirname "$0")/shlib.sh"
cleanup() {
  [[ -n $srv ]] && kill "$srv" 2>/dev/null
  remove_domains lxc:///system "$p-"
  remove_domains qemu:///system "$p-"
  remove_pools qemu:///system "$state"
  gpgconf --kill all 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
ct=$p-ct vm=$p-vm
www=$work/www
pub=$src/tests/integration/catalog_publish.py
ssdir=images/debian/bookworm/amd64/cloud
mkdir -p "$www/images/system" "$www/ss/$ssdir/20240101_05:24" "$www/ss/$ssdir/20240301_05:24" \
  "$work/gpg" "$work/m/keys"
chmod 700 "$work/gpg"

# two rootfs versions (the second with a marker file) and two disk images (other sizes)
"$src/tests/integration/busybox-template" "$work/tpl" >/dev/null || { echo "cannot build the template"; exit 1; }
cp "$work/tpl/busybox-rootfs.tar.gz" "$www/images/system/busybox-standard_1.0-1_amd64.tar.gz"
mkdir -p "$work/v2/etc" && echo two >"$work/v2/etc/kvz-version"
gzip -dc "$work/tpl/busybox-rootfs.tar.gz" >"$work/v2.tar"
tar --numeric-owner -C "$work/v2" -rf "$work/v2.tar" ./etc/kvz-version
gzip -c "$work/v2.tar" >"$www/images/system/busybox-standard_1.1-1_amd64.tar.gz"
qemu-img create -q -f qcow2 "$www/ss/$ssdir/20240101_05:24/disk.qcow2" 64M
qemu-img create -q -f qcow2 "$www/ss/$ssdir/20240301_05:24/disk.qcow2" 96M

gpg -q --batch --pinentry-mode loopback --passphrase '' --quick-gen-key "kvz lock <lock@kvz.test>" ed25519 sign never
gpg -q --batch --export --armor >"$work/m/keys/release.asc"
sign() { gpg -q --batch --yes --pinentry-mode loopback --passphrase '' --armor --detach-sign -o "$2" "$1"; }
publish() { # publish 1|2: the catalogs with the first, or both, versions
  local a=(busybox-standard 1.0-1 amd64 system/busybox-standard_1.0-1_amd64.tar.gz)
  local s=(debian:bookworm:amd64:cloud 20240101_05:24 disk-kvm.img "$ssdir/20240101_05:24/disk.qcow2")
  if [[ $1 == 2 ]]; then
    a+=(busybox-standard 1.1-1 amd64 system/busybox-standard_1.1-1_amd64.tar.gz)
    s+=(debian:bookworm:amd64:cloud 20240301_05:24 disk-kvm.img "$ssdir/20240301_05:24/disk.qcow2")
  fi
  python3 "$pub" aplinfo "$www/images" aplinfo.dat "${a[@]}"
  sign "$www/images/aplinfo.dat" "$www/images/aplinfo.dat.asc"
  python3 "$pub" simplestreams "$www/ss" "${s[@]}"
  sign "$www/ss/streams/v1/index.json" "$www/ss/streams/v1/index.json.gpg"
  sign "$www/ss/streams/v1/images.json" "$www/ss/streams/v1/images.json.gpg"
}
publish 1
python3 "$src/tests/integration/httpd_faults.py" --root "$www" --port-file "$work/port" &
srv=$!
for _ in $(seq 100); do [[ -s $work/port ]] && break; sleep 0.05; done
port=$(cat "$work/port")
cat >"$work/m/kvz.yaml" <<YAML
kvz: 1
stack: $p
catalogs:
  pve:
    kind: aplinfo
    url: http://127.0.0.1:$port/images/aplinfo.dat
    keyring: keys/release.asc
  images:
    kind: simplestreams
    url: http://127.0.0.1:$port/ss
    keyring: keys/release.asc
templates:
  bb:
    catalog: pve
    name: busybox-standard
  cloud:
    catalog: images
    name: debian/bookworm/cloud
containers:
  $ct:
    template: bb
    memory: 32MiB
    network: none
vms:
  $vm:
    image: cloud
    memory: 256MiB
    network: none
YAML
m=(-f "$work/m/kvz.yaml")

run 0 "$kvz" lock "${m[@]}" && has "bb: locked 1.0-1 sha512:" && has "cloud: locked 20240101_05:24 sha256:" &&
  ok "kvz lock pins both templates" || bad "kvz lock pins both templates"
run 0 "$kvz" apply "${m[@]}" --auto-approve --lockfile readonly && ok "applied from the lock (readonly)" || bad "applied from the lock (readonly)"
check "the container runs" test "$(virsh -q -c lxc:///system domstate $ct | head -1)" = running
check "the vm is defined" sh -c "virsh -q -c qemu:///system dominfo $vm >/dev/null"
run 0 "$kvz" status "${m[@]}" && has "1.0-1" && has "20240101_05:24" && lacks "newer:" &&
  ok "status: the versions the guests were made from, nothing newer locked" || bad "status: the versions the guests were made from, nothing newer locked"

cp "$work/m/kvz.lock" "$work/lock.v1"
publish 2
run 0 "$kvz" plan "${m[@]}" --detailed-exitcode && ok "a newer entry changes nothing while locked" || bad "a newer entry changes nothing while locked"
run 0 "$kvz" lock --upgrade "${m[@]}" &&
  has "bb: 1.0-1 sha512:" && has "-> 1.1-1 sha512:" && has "cloud: 20240101_05:24 sha256:" &&
  has "-> 20240301_05:24 sha256:" &&
  has "a later 'kvz apply' replaces container '$ct' (template 'bb')" &&
  has "a later 'kvz apply' replaces vm '$vm' (template 'cloud')" && ok "lock --upgrade: old -> new, both guests named" || bad "lock --upgrade: old -> new, both guests named"
# the same manifest with hosts: (its one host the runner's libvirtd): the guests named per host
mkdir -p "$work/mh" && cp -r "$work/m/keys" "$work/mh/" && cp "$work/lock.v1" "$work/mh/kvz.lock"
sed 's|^containers:|hosts:\n  here:\n    containers: lxc:///system\n    vms: qemu:///system\ncontainers:|' "$work/m/kvz.yaml" >"$work/mh/kvz.yaml"
run 0 "$kvz" lock --upgrade -f "$work/mh/kvz.yaml" && has "-> 1.1-1 sha512:" &&
  has "a later 'kvz apply' replaces container '$ct' on host 'here' (template 'bb')" &&
  has "a later 'kvz apply' replaces vm '$vm' on host 'here' (template 'cloud')" &&
  ok "lock --upgrade with hosts: each guest named with its host" || bad "lock --upgrade with hosts: each guest named with its host"
run 0 "$kvz" status "${m[@]}" && has "newer: 1.1-1 sha512:" && has "newer: 20240301_05:24 sha256:" &&
  ok "status: a newer template is locked for both" || bad "status: a newer template is locked for both"
"$kvz" status "${m[@]}" --json >"$work/status.json" 2>"$work/status.err"; python3 -c '
import json, sys
rows = {r["name"]: r for r in json.loads(sys.argv[1])["resources"]}
for n, v in ((sys.argv[2], "1.0-1"), (sys.argv[3], "20240101_05:24")):
    t = rows[n]["template"]
    assert t["version"] == v and t["newer_locked"] and t["digest"].startswith("sha256:"), t
' "$(cat "$work/status.json")" $ct $vm && ok "status --json: version, digest, newer_locked" || bad "status --json: version, digest, newer_locked"

# a saved plan holds the resolution: a lock changed after it does not change what it applies
run 2 "$kvz" plan "${m[@]}" -o "$work/plan.json" --detailed-exitcode && has "replace" && ok "the plan replaces both" || bad "the plan replaces both"
python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["templates"]["templates"]; assert t["bb"]["version"]=="1.1-1" and t["cloud"]["version"]=="20240301_05:24", t' "$work/plan.json" &&
  ok "the plan file records the resolved templates" || bad "the plan file records the resolved templates"
cp "$work/m/kvz.lock" "$work/lock.v2"
run 0 "$kvz" apply "$work/plan.json" && ok "the saved plan applied" || bad "the saved plan applied"
# its rootfs as it has it: on shared layers the overlay is mounted in libvirtd's namespace only
check "the container was made from 1.1-1" test "$(nsenter -t "$(cat /run/libvirtd.pid)" -m cat "$state"/containers/$p/$ct/rootfs/etc/kvz-version 2>/dev/null)" = two
check "the vm was made from the 96M image" sh -c "qemu-img info -U --backing-chain '$state/pool/$vm.qcow2' | grep -q '96 MiB'"
run 0 "$kvz" status "${m[@]}" && has "1.1-1" && has "20240301_05:24" && lacks "newer:" && ok "status: up to date" || bad "status: up to date"
run 0 "$kvz" plan "${m[@]}" --detailed-exitcode --lockfile readonly && ok "nothing left to do" || bad "nothing left to do"
run 0 "$kvz" destroy "${m[@]}" --auto-approve && ok "destroyed" || bad "destroyed"

# A SUMS template locked after its guest was made, the cache cleared in between: the lock's
# sha512 cannot be resolved to the guest's content digest, and that is no change (the guest
# keeps its data); after a pull the content decides, and other bytes under the pin replace it.
sct=$p-sums sstate=$work/sstate
mkdir -p "$www/sums" "$work/s"
cp "$work/tpl/busybox-rootfs.tar.gz" "$www/sums/bb.tar.gz"
(cd "$www/sums" && sha512sum bb.tar.gz >SHA512SUMS)
cat >"$work/s/kvz.yaml" <<YAML
kvz: 1
stack: $p-sums
templates:
  bb:
    url: http://127.0.0.1:$port/sums/bb.tar.gz
    checksums: http://127.0.0.1:$port/sums/SHA512SUMS
containers:
  $sct:
    template: bb
    memory: 32MiB
    network: none
YAML
s=(--state-dir "$sstate")
# the cache is cleared under this guest below: a private copy, which does not need it (on
# shared layers the template's tree is the guest's root, and its loss is drift: containers.md)
export KVZ_CONTAINER_LAYERS=copy
sm=(-f "$work/s/kvz.yaml")
run 0 "$kvz" "${s[@]}" apply "${sm[@]}" --auto-approve && ok "SUMS: applied without a lock" || bad "SUMS: applied without a lock"
rm -rf "$sstate/cache"
run 0 "$kvz" "${s[@]}" lock "${sm[@]}" && has "bb: locked sha512:" && ok "SUMS: locked after the cache was cleared" || bad "SUMS: locked after the cache was cleared"
run 0 "$kvz" "${s[@]}" plan "${sm[@]}" --detailed-exitcode && lacks "replace" &&
  has "container '$sct': kvz.lock pins template 'bb' to sha512:" && has "run 'kvz templates pull'" &&
  ok "SUMS: the lock replaces nothing, and says the pin is not compared yet" || bad "SUMS: the lock replaces nothing, and says the pin is not compared yet"
run 0 "$kvz" "${s[@]}" templates pull "${sm[@]}" && run 0 "$kvz" "${s[@]}" plan "${sm[@]}" --detailed-exitcode &&
  lacks "not in the cache" && ok "SUMS: pulled, the same content: no change" || bad "SUMS: pulled, the same content: no change"
cp "$www/images/system/busybox-standard_1.1-1_amd64.tar.gz" "$www/sums/bb.tar.gz"
(cd "$www/sums" && sha512sum bb.tar.gz >SHA512SUMS)
run 0 "$kvz" "${s[@]}" lock --upgrade "${sm[@]}" && run 0 "$kvz" "${s[@]}" templates pull "${sm[@]}" &&
  run 2 "$kvz" "${s[@]}" plan "${sm[@]}" --detailed-exitcode && has "template changed" &&
  ok "SUMS: other bytes under the upgraded pin replace the guest" || bad "SUMS: other bytes under the upgraded pin replace the guest"
run 0 "$kvz" "${s[@]}" apply "${sm[@]}" --auto-approve --lockfile readonly &&
  check "SUMS: the guest was made from the new bytes" test "$(cat "$sstate/containers/$p-sums/$sct/rootfs/etc/kvz-version" 2>/dev/null)" = two ||
  bad "SUMS: applied the upgrade"
run 0 "$kvz" "${s[@]}" destroy "${sm[@]}" --auto-approve && ok "SUMS: destroyed" || bad "SUMS: destroyed"
finish
