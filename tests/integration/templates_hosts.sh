#!/usr/bin/env bash
# kvz templates list|prune of a manifest with hosts: (docs/hosts.md): the guests of every host
# count. The host "local" is the runner's libvirtd (lxc:///system, qemu:///system); "dead" is an
# ssh URI nothing listens on. Every domain is named kvzt-tplh-<pid>-*; all removed at exit.
set -uo pipefail
kvz=${KVZ_BINARY:?KVZ_BINARY must name the kvz binary}
src=${KVZ_SOURCE_DIR:?}
p=kvzt-tplh-$$
work=$(mktemp -d /tmp/$p-XXXXXX)
export NO_COLOR=1
fails=0
. "$(dirname "$0")/shlib.sh"
cleanup() {
  remove_domains lxc:///system "$p-"
  rm -rf "$work"
}
trap cleanup EXIT
"$src/tests/integration/busybox-template" "$work/tpl" || { echo "cannot build the template"; exit 1; }
sha=$(cut -d' ' -f1 "$work/tpl/SHA256SUMS")
tar=$work/tpl/busybox-rootfs.tar.gz
S=$work/state
dead='lxc+ssh://root@127.0.0.1:1/system?no_verify=1'
local_host="  local:
    containers: lxc:///system
    vms: qemu:///system"
manifest() { # manifest FILE HOSTS TEMPLATES, containers on stdin
  { printf 'kvz: 1\nstack: %s\nhosts:\n%s\ntemplates:\n%s\ncontainers:\n' "$p-s" "$2" "$3"; cat; } >"$1"
}
bb="  bb:
    url: file://$tar
    sha256: $sha"
printf '  %s:\n    host: local\n    template: bb\n    memory: 32MiB\n    network: none\n' "$p-a" |
  manifest "$work/m.yaml" "$local_host" "$bb"
# a manifest that names no template the guest was made from: prune keeps it for the guest
printf '' | manifest "$work/none.yaml" "$local_host" "$(printf '  x:\n    url: file:///nonexistent.tar.gz\n    sha256: %064d' 0)"
printf '' | manifest "$work/dead.yaml" "$local_host
  dead:
    containers: $dead" "$bb"

run 0 "$kvz" --state-dir "$S" apply -f "$work/m.yaml" --auto-approve && ok "apply on host local"
if run 0 "$kvz" --state-dir "$S" templates list -f "$work/m.yaml" &&
  grep -qE '^bb +rootfs .* 1 yes$' <<<"$out"; then
  ok "templates list with hosts: counts the guest on local (GUESTS 1)"
else bad "list: $out"; fi
objects() { ls "$S/cache/objects" 2>/dev/null | wc -l; }
n=$(objects)
run 0 "$kvz" --state-dir "$S" templates prune -f "$work/none.yaml" &&
  has "removed 0 cache entries" && lacks "hosts:, which plan" &&
  ok "templates prune with hosts: keeps what the guest on local was made from"
check "... its cache entry is still there" test "$(objects)" == "$n" -a "$n" -gt 0

# a host that cannot be seen: list says GUESTS ?, prune refuses and removes nothing
if run 0 "$kvz" --state-dir "$S" templates list -f "$work/dead.yaml" &&
  has "host 'dead': cannot connect" && has "its guests are not counted" &&
  grep -qE '^bb +rootfs .* \? yes$' <<<"$out"; then
  ok "list: an unreachable host makes GUESTS ?"
else bad "list with dead: $out"; fi
run 1 "$kvz" --state-dir "$S" templates prune -f "$work/dead.yaml" &&
  has "host 'dead': cannot connect" && has "1 of 2 hosts could not be seen; nothing was removed" &&
  ok "prune: an unreachable host refuses the prune"

run 0 "$kvz" --state-dir "$S" destroy -f "$work/m.yaml" --auto-approve && ok "destroy"
run 0 "$kvz" --state-dir "$S" templates prune -f "$work/none.yaml" &&
  has "removed 1 cache entry" && ok "prune after destroy: the entry goes (no guest uses it)"
finish
