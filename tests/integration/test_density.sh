#!/usr/bin/env bash
# Containers on shared layers (issue 15), on the real libvirtd with real overlay mounts: made
# from busybox and Debian templates, the own layer holds only the container's files, writes in
# one are seen by no other and not in the store, the reboot case (every mount gone, `virsh
# start` alone), a missing template layer, prune with guests on the template, destroy leaving
# no mount and no file, and the copy fallback (KVZ_CONTAINER_LAYERS=copy).
set -uo pipefail
kvz=${KVZ_BINARY:?KVZ_BINARY must name the kvz binary}
src=${KVZ_SOURCE_DIR:?}
uri=lxc:///system
p=kvzt15-$$
work=$(mktemp -d /tmp/$p-XXXXXX)
chmod 755 "$work"
st=$work/state
export NO_COLOR=1
fails=0
. "$(dirname "$0")/shlib.sh"
cleanup() {
  remove_domains $uri "$p-"
  [[ -n ${KVZ_TEST_KEEP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

lvpid() { cat /run/libvirtd.pid; }
lv() { nsenter -t "$(lvpid)" -m -- "$@"; } # in libvirtd's mount namespace
mounted() { lv grep -q " $1 " /proc/self/mountinfo; }
init_of() { pgrep -P "$(virsh -q -c $uri domid "$1" | head -1)" | head -1; }
inside() { local n=$1; shift; nsenter -t "$(init_of "$n")" -m -r -- "$@"; }
domstate() { virsh -q -c $uri domstate "$1" 2>/dev/null | head -1; }

"$src/tests/integration/busybox-template" "$work/tpl" >/dev/null || { echo "cannot build the template"; exit 1; }
# a template of this run's own (busybox-template's tar is the same in every test): prune's
# checks below must not meet another test's guests made from the same bytes
mkdir "$work/u" && tar -C "$work/u" -xzf "$work/tpl/busybox-rootfs.tar.gz" && echo "$p" >"$work/u/etc/kvzt15-id" &&
  tar --numeric-owner -C "$work/u" -czf "$work/tpl/busybox-rootfs.tar.gz" . || { echo "cannot make the template"; exit 1; }
sha=$(sha256sum "$work/tpl/busybox-rootfs.tar.gz" | cut -d' ' -f1)
deb=$("$src/tests/integration/debian-rootfs") || deb=
m=$work/d.yaml
{
  printf 'kvz: 1\nstack: %s\ntemplates:\n' "$p"
  printf '  bb:\n    url: file://%s/tpl/busybox-rootfs.tar.gz\n    sha256: %s\n' "$work" "$sha"
  [[ -z $deb ]] || printf '  deb:\n    url: file://%s\n    sha256: %s\n' "$deb" "$(sha256sum "$deb" | cut -d' ' -f1)"
  printf 'containers:\n'
  for n in a b; do printf '  %s-%s:\n    template: bb\n    memory: 64MiB\n    network: none\n' "$p" $n; done
  [[ -z $deb ]] || printf '  %s-deb:\n    template: deb\n    memory: 256MiB\n    network: none\n' "$p"
} >"$m"
[[ -n $deb ]] || echo "# no Debian rootfs here: the Debian case is skipped"

run 0 "$kvz" --state-dir "$st" doctor && has "overlay" && ok "doctor says containers share their template through overlay"
run 0 "$kvz" --state-dir "$st" apply -f "$m" --auto-approve && ok "applied"
check "kvz's hook is installed in libvirt's lxc.d" test -x /etc/libvirt/hooks/lxc.d/kvz
d=$st/containers/$p
names="a b"
[[ -z $deb ]] || names="a b deb"
for n in $names; do
  dir=$d/$p-$n
  check "$n: running" test "$(domstate $p-$n)" = running
  check "$n: storage.json says overlay" grep -q '"storage": *"overlay"' "$dir/storage.json"
  check "$n: the overlay is mounted in libvirtd's namespace" mounted "$dir/rootfs"
  own=$(cd "$dir/upper" && find . -type f | sort | tr '\n' ' ')
  if [[ $n != deb ]]; then
    check "$n: its own layer holds only its own files ($own)" test "$own" = "./etc/hostname ./etc/hosts "
  else # systemd wrote files at boot: its own, none a copy of the template's
    dl=$(sed -n 's/.*"lower": *"\([^"]*\)".*/\1/p' "$dir/storage.json")
    copies=$(cd "$dir/upper" && find . -type f -size +0 -exec sh -c 'cmp -s "$1" "$0/$1" && echo "$1"' "$dl" {} \;)
    check "deb: its own layer holds no copy of a template file (${copies:-none})" test -z "$copies"
    check "deb: its own layer has its hostname" test -f "$dir/upper/etc/hostname"
    check "deb: its own layer holds $(wc -w <<<"$own") files, not the template's $(find "$dl" -type f | wc -l)" \
      test "$(wc -w <<<"$own")" -lt 50
  fi
  check "$n: its hostname comes from its own layer" test "$(inside $p-$n cat /etc/hostname)" = "$p-$n"
  check "$n: the domain's metadata names its layers" \
    bash -c "virsh -c $uri dumpxml $p-$n | grep -q 'layer-upper>$dir/upper<'"
done
lower=$(sed -n 's/.*"lower": *"\([^"]*\)".*/\1/p' "$d/$p-a/storage.json")
check "the lower layer is the store's object" bash -c "[[ '$lower' == '$st'/cache/objects/* ]]"
check "a and b share one lower" grep -q "\"lower\": *\"$lower\"" "$d/$p-b/storage.json"

# --- writes in one container: not in the other, not in the store
inside $p-a sh -c 'echo mine > /root/mine; echo changed > /bin/sh.note; rm /bin/ls'
check "a sees its write" test "$(inside $p-a cat /root/mine)" = mine
check "b does not see a's file" bash -c "! nsenter -t $(init_of $p-b) -m -r -- cat /root/mine 2>/dev/null"
check "b still has what a deleted" inside $p-b sh -c 'test -e /bin/ls'
check "the store's tree is unchanged" bash -c "[[ ! -e $lower/root/mine && ! -e $lower/bin/sh.note && -e $lower/bin/ls ]]"
check "a's write is in a's own layer" test -f "$d/$p-a/upper/root/mine"
if [[ -n $deb ]]; then
  dl=$(sed -n 's/.*"lower": *"\([^"]*\)".*/\1/p' "$d/$p-deb/storage.json")
  before=$(sha256sum "$dl/etc/debian_version" | cut -d' ' -f1)
  inside $p-deb sh -c 'echo kvz >> /etc/debian_version'
  check "deb: a change to a template file is copied up" grep -q kvz "$d/$p-deb/upper/etc/debian_version"
  check "deb: the store's file is unchanged" test "$(sha256sum "$dl/etc/debian_version" | cut -d' ' -f1)" = "$before"
fi
run 0 "$kvz" --state-dir "$st" status -f "$m" && has "overlay" && ok "status shows the containers' layers"
# a's own disk: its own layer only (a few KiB of files), not the template's tree
head -c 3M /dev/urandom >"$work/3m" && inside $p-a sh -c 'cat > /root/big' <"$work/3m"
run 0 "$kvz" --state-dir "$st" status -f "$m" --json
field() { python3 -c 'import json, sys; r = [x for x in json.load(sys.stdin)["resources"] if x["name"] == sys.argv[1]][0]; print(" ".join(str(r[k]) for k in sys.argv[2:]))' "$@" <<<"$out"; }
own=$(field $p-a own_disk)
tree=$(du -sb "$lower" | cut -f1)
check "status --json: a's own disk is what it wrote ($own bytes; the tree is $tree)" \
  test "$own" -ge $((3 << 20)) -a "$own" -lt $((4 << 20))
check "status --json: a's storage is overlay on the store's tree" \
  test "$(field $p-a storage template_tree)" = "overlay $lower"
run 0 "$kvz" --state-dir "$st" templates list -f "$m"
check "templates list: 2 guests use bb" grep -Eq '^bb .* 2 yes$' <<<"$out"

# --- the reboot case: stopped, every mount gone, started by libvirt alone
virsh -q -c $uri destroy $p-a >/dev/null
check "a stopped: the release hook unmounted its overlay" bash -c "! nsenter -t $(lvpid) -m grep -q ' $d/$p-a/rootfs ' /proc/self/mountinfo"
while mounted "$d/$p-a/rootfs"; do lv umount -l "$d/$p-a/rootfs"; done
run 0 virsh -c $uri start $p-a && ok "virsh start alone"
check "a runs after the reboot case" test "$(domstate $p-a)" = running
check "a has its changes after the reboot case" test "$(inside $p-a cat /root/mine)" = mine
check "a's deletion holds after the reboot case" bash -c "! nsenter -t $(init_of $p-a) -m -r -- sh -c 'test -e /bin/ls'"

# --- the hook deleted: the next start by kvz installs it again (and reloads libvirtd)
virsh -q -c $uri destroy $p-a >/dev/null
rm -f /etc/libvirt/hooks/lxc.d/kvz
run 0 "$kvz" --state-dir "$st" apply -f "$m" --auto-approve && has "installed kvz's libvirt hook" && ok "apply reinstalls a deleted hook"
check "a runs again with its changes" test "$(inside $p-a cat /root/mine)" = mine

# --- a missing template layer fails the start with a clear message, never an empty root
virsh -q -c $uri destroy $p-b >/dev/null
mv "$lower" "$lower.away"
run 1 virsh -c $uri start $p-b
has "template layer '$lower' is missing" && ok "a missing lower fails the start, saying so"
check "b did not start on an empty root" test "$(domstate $p-b)" != running
run 0 "$kvz" --state-dir "$st" plan -f "$m" && has "template layer missing" && ok "plan reports the missing layer as drift"
mv "$lower.away" "$lower"
run 0 "$kvz" --state-dir "$st" apply -f "$m" --auto-approve && ok "apply again"
check "b runs again" test "$(domstate $p-b)" = running

# --- prune never removes a template a guest uses (found from the domains)
mo=$work/other.yaml
printf 'kvz: 1\nstack: %s-other\ncontainers: {}\n' "$p" >"$mo"
run 0 "$kvz" --state-dir "$st" templates prune -f "$mo" && ok "prune with a manifest that names no template"
check "prune kept the object the guests use" test -d "$lower"
run 0 "$kvz" --state-dir "$st" plan -f "$m" && has "No changes" && ok "nothing to do after prune"

# the domains' filesystem sources alone: with the template digest gone from their metadata
# (a guest kvz did not record the template of), the layer they mount still keeps the object
for n in a b; do
  virsh -q -c $uri destroy $p-$n >/dev/null
  virsh -c $uri dumpxml --inactive $p-$n | sed 's|<kvz:template-digest>[^<]*</kvz:template-digest>||' >"$work/$n.xml"
  virsh -q -c $uri define "$work/$n.xml" >/dev/null
done
check "the digest is gone from a's metadata" bash -c "! virsh -c $uri dumpxml $p-a | grep -q template-digest"
run 0 "$kvz" --state-dir "$st" templates prune -f "$mo" && ok "prune again"
check "prune kept the object the guests' layers mount" test -d "$lower"

# --- destroy: no mount, no file
run 0 "$kvz" --state-dir "$st" destroy -f "$m" --auto-approve --force && ok "destroyed"
check "no mount of the state dir is left in libvirtd's namespace" bash -c "! nsenter -t $(lvpid) -m grep -q ' $st/' /proc/self/mountinfo"
left=$(find "$d" -mindepth 1 2>/dev/null | head -3)
check "no file of the containers is left ($left)" test -z "$left"
run 0 "$kvz" --state-dir "$st" templates prune -f "$mo" && ok "prune after destroy"
check "prune removed the object no guest uses" test ! -e "$lower"

# --- the copy fallback
mc=$work/c.yaml
sed "s/stack: $p\$/stack: $p-copy/; s/$p-a:/$p-ca:/; /$p-b:/,/network/d; /$p-deb:/,/network/d" "$m" >"$mc"
KVZ_CONTAINER_LAYERS=copy run 0 "$kvz" --state-dir "$st" doctor && has "copy" && ok "doctor says copy with KVZ_CONTAINER_LAYERS=copy"
KVZ_CONTAINER_LAYERS=copy run 0 "$kvz" --state-dir "$st" apply -f "$mc" --auto-approve && ok "applied with copies"
cd_=$st/containers/$p-copy/$p-ca
check "copy: storage.json says rootfs" grep -q '"storage": *"rootfs"' "$cd_/storage.json"
check "copy: the rootfs is a whole private tree" test -x "$cd_/rootfs/bin/busybox"
check "copy: no overlay mounted" bash -c "! nsenter -t $(lvpid) -m grep -q ' $cd_/rootfs ' /proc/self/mountinfo"
check "copy: running" test "$(domstate $p-ca)" = running
run 0 "$kvz" --state-dir "$st" plan -f "$mc" && has "No changes" && ok "copy: plan without KVZ_CONTAINER_LAYERS has no changes"
run 0 "$kvz" --state-dir "$st" destroy -f "$mc" --auto-approve --force && ok "copy: destroyed"
finish
