#!/usr/bin/env bash
# kvz doctor on the real host: a network the manifest uses but libvirt lacks blocks (exit 1,
# one FAIL line saying what to do); the "default" network passes; an unwritable state dir fails.
set -euo pipefail
kvz=${KVZ_BINARY:?KVZ_BINARY not set}
tmp=$(mktemp -d /tmp/kvzt-$$-doctor.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
net="kvzt-$$-nonet"
manifest() { # manifest NETWORK
  cat >"$tmp/kvz.yaml" <<YAML
kvz: 1
stack: kvzt-$$
templates:
  img:
    url: file:///nonexistent/disk.qcow2
    sha256: $(printf '%064d' 0)
vms:
  vm1:
    image: img
    memory: 256MiB
    disk: 1GiB
    network: $1
YAML
}
fail() { echo "doctor.sh: $*" >&2; exit 1; }

manifest "$net"
set +e
out=$("$kvz" --no-color --state-dir "$tmp/state" doctor -f "$tmp/kvz.yaml")
rc=$?
set -e
echo "$out"
[[ $rc -eq 1 ]] || fail "missing network: exit $rc, want 1"
grep -qx "FAIL network: '$net' is not defined; define it (virsh net-define) or change network: in the manifest" <<<"$out" ||
  fail "missing network: no FAIL line naming '$net'"
grep -q "^ok   libvirt: 'qemu:///system' reachable" <<<"$out" || fail "libvirt line missing"
grep -q "^\(ok  \|warn\) kvm: " <<<"$out" || fail "kvm line missing"
# what Windows 11 guests need: swtpm through libvirt, OVMF's secure-boot build
grep -q "^\(ok   tpm: libvirt offers a TPM 2.0 emulator (swtpm)\|warn tpm: .*apt-get install swtpm swtpm-tools\)$" <<<"$out" ||
  fail "tpm line missing"
grep -q "^\(ok  \|warn\) secure boot: .*OVMF_CODE_4M.ms.fd" <<<"$out" || fail "secure boot line missing"
if [[ -c /dev/kvm ]]; then
  grep -q "^\(ok   kvm device: \|warn kvm device: .*chgrp kvm /dev/kvm && chmod 0660 /dev/kvm\)" <<<"$out" ||
    fail "kvm device line missing or without its fix"
fi

manifest default
out=$("$kvz" --no-color --state-dir "$tmp/state" doctor -f "$tmp/kvz.yaml") || fail "default network: exit $?"
grep -qx "ok   network: 'default' defined and active" <<<"$out" || fail "default network not ok"

set +e
out=$("$kvz" --no-color --state-dir /proc/kvz-doctor doctor -f "$tmp/kvz.yaml")
rc=$?
set -e
[[ $rc -eq 1 ]] || fail "unwritable state dir: exit $rc, want 1"
grep -q "^FAIL state dir: cannot create '/proc/kvz-doctor'" <<<"$out" || fail "no state dir FAIL line"
echo "doctor.sh: ok"
