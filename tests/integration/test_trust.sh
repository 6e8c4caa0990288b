#!/usr/bin/env bash
# The defects of issue 8 that live in plan and apply, against the real libvirtd (LXC):
# a guest is never deleted or changed from another state dir; a template's identity is its
# content; a live memory change keeps the domain consistent; a stopped container's disk grows
# without a stop; a replace shows every delta; kvz's own stop is not drift; a relative
# --state-dir works; storage cut short is never started (issue 17). Every domain is named
# kvzt-<pid>-*; all removed at exit.
set -uo pipefail
kvz=${KVZ_BINARY:?KVZ_BINARY must name the kvz binary}
src=${KVZ_SOURCE_DIR:?}
uri=lxc:///system
p=kvzt-$$
work=$(mktemp -d /tmp/$p-trust-XXXXXX)
export NO_COLOR=1
fails=0
. "$(dirname "$0")/shlib.sh"
cleanup() {
  [[ -n ${bg:-} ]] && kill -KILL "$bg" 2>/dev/null
  remove_domains $uri "$p-"
  rm -rf "$work"
}
trap cleanup EXIT
domid() { virsh -q -c $uri domid "$1" 2>/dev/null | head -1 | tr -d ' '; }

KVZ_TEMPLATE_ID=$p "$src/tests/integration/busybox-template" "$work/tpl" || { echo "cannot build the template"; exit 1; }
sha=$(cut -d' ' -f1 "$work/tpl/SHA256SUMS")
tar=$work/tpl/busybox-rootfs.tar.gz

manifest() { # manifest FILE STACK TEMPLATE-YAML, resources (under containers:) on stdin
  { printf 'kvz: 1\nstack: %s\ntemplates:\n  bb:\n%s\ncontainers:\n' "$2" "$3"; cat; } >"$1"
}
ct() { # ct NAME MEMORY [extra YAML lines...]
  printf '  %s:\n    template: bb\n    memory: %s\n    network: none\n' "$1" "$2"
  shift 2
  for l in "$@"; do printf '    %s\n' "$l"; done
}
checked="    url: file://$tar
    sha256: $sha"

# --- item 1: two state dirs, one stack: B never deletes A's guest, and says where it lives
A=$work/A B=$work/B
ct $p-a 32MiB | manifest "$work/a.yaml" "$p-s" "$checked"
ct $p-b 32MiB | manifest "$work/b.yaml" "$p-s" "$checked"
run 0 "$kvz" --state-dir "$A" apply -f "$work/a.yaml" --auto-approve && ok "a applied from state dir A"
run 1 "$kvz" --state-dir "$B" apply -f "$work/b.yaml" --auto-approve &&
  has "container '$p-a' was made with state dir '$A', which holds its files, not '$B'; plan and apply it with --state-dir $A" &&
  ok "B refuses to delete A's guest, naming A"
check "a still runs" test "$(virsh -q -c $uri domstate $p-a | head -1)" = running
check "a's files are still in A" test -f "$A/containers/$p-s/$p-a/storage.json"
check "nothing of b was made" test ! -e "$B/containers/$p-s/$p-b"
run 1 "$kvz" --state-dir "$B" destroy -f "$work/a.yaml" --auto-approve && has "was made with state dir '$A'" &&
  ok "B refuses to destroy it too"
run 0 "$kvz" --state-dir "$A" destroy -f "$work/a.yaml" --auto-approve && ok "destroyed from A"
check "destroy removed a's files" test ! -e "$A/containers/$p-s/$p-a"

# --- #17: a relative --state-dir is made absolute (libvirt gets absolute paths)
mkdir -p "$work/cwd"
ct $p-rel 32MiB | manifest "$work/rel.yaml" "$p-rel" "$checked"
(cd "$work/cwd" && run 0 "$kvz" --state-dir st apply -f ../rel.yaml --auto-approve) && ok "applied with --state-dir st"
check "the container runs" test "$(virsh -q -c $uri domstate $p-rel | head -1)" = running
check "its rootfs path is absolute" sh -c "virsh -q -c $uri dumpxml $p-rel | grep -q \"<source dir='$work/cwd/st/containers/\""
(cd "$work/cwd" && run 0 "$kvz" --state-dir st destroy -f ../rel.yaml --auto-approve)

# --- #17: storage is used only when known to be complete. What a create or a removal cut short
# leaves under the final name (here: a rootfs missing bin/ and etc/, its domain gone) is never
# started: without its completion marker it is made again; with it (a removal cut short, the
# domain already undefined) it is set aside, kept, and the guest made anew.
C=$work/C
{ ct $p-cut 32MiB; ct $p-cuti 32MiB "disk: 64MiB"; } | manifest "$work/cut.yaml" "$p-cut" "$checked"
cdir=$C/containers/$p-cut/$p-cut idir=$C/containers/$p-cut/$p-cuti
for marker in without with; do
  run 0 "$kvz" --state-dir "$C" apply -f "$work/cut.yaml" --auto-approve
  for d in $p-cut $p-cuti; do
    virsh -q -c $uri destroy $d >/dev/null 2>&1
    virsh -q -c $uri undefine $d >/dev/null 2>&1
  done
  # a private rootfs, or a container's own layer on the shared template (docs/containers.md)
  rm -rf "$cdir/rootfs/bin" "$cdir/rootfs/etc" "$cdir/upper/etc"
  truncate -s 1M "$idir/disk.img"
  [[ $marker == without ]] && rm -f "$cdir/storage.json" "$idir/storage.json"
  run 0 "$kvz" --state-dir "$C" apply -f "$work/cut.yaml" --auto-approve &&
    ok "a rootfs and an image cut short ($marker their markers): the next apply succeeds"
  # the rootfs as the guest sees it: an overlay is mounted in libvirtd's namespace only
  check "the container runs on the whole template ($marker marker)" sh -c "nsenter -t \$(cat /run/libvirtd.pid) -m test -x '$cdir/rootfs/bin/busybox' && nsenter -t \$(cat /run/libvirtd.pid) -m test -s '$cdir/rootfs/etc/hostname' && test \"\$(virsh -q -c $uri domstate $p-cut | head -1)\" = running"
  check "the image was made again ($marker marker)" sh -c "test \$(stat -c %s '$idir/disk.img') = $((64 << 20)) && test \"\$(virsh -q -c $uri domstate $p-cuti | head -1)\" = running"
done
check "the cut storage with a marker was set aside, not deleted" sh -c "ls -d '$cdir'.orphan-* '$idir'.orphan-* >/dev/null"
run 0 "$kvz" --state-dir "$C" destroy -f "$work/cut.yaml" --auto-approve

# --- item 3: identity is the content: a checksum added, a byte-identical copy, replace only on new bytes
S=$work/S
cp "$tar" "$work/copy.tar.gz"
ct $p-t 32MiB | manifest "$work/t.yaml" "$p-t" "    url: file://$tar"
run 0 "$kvz" --state-dir "$S" apply -f "$work/t.yaml" --auto-approve && ok "applied from a file:// template without checksum"
id=$(domid $p-t)
ct $p-t 32MiB | manifest "$work/t.yaml" "$p-t" "$checked"
run 0 "$kvz" --state-dir "$S" plan -f "$work/t.yaml" --detailed-exitcode && has "No changes" && ok "adding the right sha256 changes nothing"
ct $p-t 32MiB | manifest "$work/t.yaml" "$p-t" "    url: file://$work/copy.tar.gz"
run 0 "$kvz" --state-dir "$S" plan -f "$work/t.yaml" --detailed-exitcode && ok "a byte-identical copy changes nothing"
gzip -dc "$tar" >"$work/other.tar" && gzip -1 -c "$work/other.tar" >"$work/other.tar.gz"
ct $p-t 32MiB | manifest "$work/t.yaml" "$p-t" "    url: file://$work/other.tar.gz"
run 2 "$kvz" --state-dir "$S" plan -f "$work/t.yaml" --detailed-exitcode && has "-/+ $p-t (container)" &&
  has "template changed: the old rootfs is lost" && ok "other bytes: replace"
check "the plan changed nothing" test "$(domid $p-t)" = "$id"

# --- item 4: live memory growth leaves the domain as consistent as a create
ct $p-t 64MiB | manifest "$work/t.yaml" "$p-t" "$checked"
run 0 "$kvz" --state-dir "$S" apply -f "$work/t.yaml" --auto-approve
id=$(domid $p-t)
ct $p-t 160MiB | manifest "$work/t.yaml" "$p-t" "$checked"
run 2 "$kvz" --state-dir "$S" plan -f "$work/t.yaml" --detailed-exitcode && has "(live)" && ok "memory growth is live"
run 0 "$kvz" --state-dir "$S" apply -f "$work/t.yaml" --auto-approve
check "same domain id" test "$(domid $p-t)" = "$id"
check "dominfo shows the new memory" sh -c "virsh -q -c $uri dominfo $p-t | grep -q '^Used memory\|^Max memory' && virsh -c $uri dumpxml $p-t | grep -q \"<currentMemory unit='KiB'>163840</currentMemory>\""
run 0 virsh -q -c $uri setmem $p-t 100M --live && ok "virsh setmem 100M works after the live growth"
run 2 "$kvz" --state-dir "$S" plan -f "$work/t.yaml" --detailed-exitcode && has "memory: 100MiB -> 160MiB" &&
  ok "the setmem shows as drift"
run 0 "$kvz" --state-dir "$S" apply -f "$work/t.yaml" --auto-approve
run 0 "$kvz" --state-dir "$S" plan -f "$work/t.yaml" --detailed-exitcode && ok "and is put back"

# --- item 8: kvz's own stop is no drift
ct $p-t 160MiB "state: stopped" | manifest "$work/t.yaml" "$p-t" "$checked"
run 0 "$kvz" --state-dir "$S" apply -f "$work/t.yaml" --auto-approve && has "stop done"
ct $p-t 160MiB | manifest "$work/t.yaml" "$p-t" "$checked"
run 2 "$kvz" --state-dir "$S" plan -f "$work/t.yaml" --detailed-exitcode && has "state: running" &&
  lacks "outside kvz" && ok "after kvz's own stop the reason is the manifest's, not drift"
ct $p-t 160MiB "state: stopped" | manifest "$work/t.yaml" "$p-t" "$checked"
run 0 "$kvz" --state-dir "$S" apply -f "$work/t.yaml" --auto-approve
ct $p-t 160MiB | manifest "$work/t.yaml" "$p-t" "$checked"
run 0 "$kvz" --state-dir "$S" apply -f "$work/t.yaml" --auto-approve
virsh -q -c $uri destroy $p-t >/dev/null
run 2 "$kvz" --state-dir "$S" plan -f "$work/t.yaml" --detailed-exitcode && has "stopped outside kvz" &&
  ok "a stop by hand still is drift"

# --- item 8: a replace shows the other deltas too
ct $p-t 96MiB "cpus: 0.5" | manifest "$work/t.yaml" "$p-t" "    url: file://$work/other.tar.gz"
run 2 "$kvz" --state-dir "$S" plan -f "$work/t.yaml" --detailed-exitcode && has "-/+ $p-t (container)" &&
  has "memory: 160MiB -> 96MiB" && has "cpus: 1 -> 0.5" && ok "replace lists memory and cpus"
run 2 "$kvz" --state-dir "$S" plan -f "$work/t.yaml" --json --detailed-exitcode &&
  has '"field": "memory"' && ok "and so does its JSON"

# --- item 7: a stopped container's disk grows without a stop and without the online message
ct $p-d 32MiB "disk: 64MiB" "state: stopped" | manifest "$work/d.yaml" "$p-d" "$checked"
run 0 "$kvz" --state-dir "$S" apply -f "$work/d.yaml" --auto-approve
ct $p-d 32MiB "disk: 96MiB" "state: stopped" | manifest "$work/d.yaml" "$p-d" "$checked"
run 0 "$kvz" --state-dir "$S" apply -f "$work/d.yaml" --auto-approve && lacks "online resize not permitted" &&
  lacks "stopping" && ok "stopped disk grown without a stop"
check "the image is 96MiB" test "$(stat -c %s "$S/containers/$p-d/$p-d/disk.img")" = $((96 << 20))
run 0 "$kvz" --state-dir "$S" plan -f "$work/d.yaml" --detailed-exitcode && ok "converged"

run 0 "$kvz" --state-dir "$S" destroy -f "$work/t.yaml" --auto-approve
run 0 "$kvz" --state-dir "$S" destroy -f "$work/d.yaml" --auto-approve

# --- item 6: prune never removes what a running apply or an existing guest uses
P=$work/P
printf 'kvz: 1\nstack: %s\n' "$p-none" >"$work/none.yaml"
{ for i in 1 2 3 4 5 6; do ct $p-p$i 32MiB; done; } | manifest "$work/p.yaml" "$p-p" "$checked"
"$kvz" --state-dir "$P" apply -f "$work/p.yaml" --auto-approve --parallel 1 >"$work/p.log" 2>&1 &
bg=$!
# from the first create on, the apply holds the template it pulled
for _ in $(seq 1 3000); do grep -q "(container): create$" "$work/p.log" && break; sleep 0.01; done
pruned=0
while kill -0 $bg 2>/dev/null; do
  o=$("$kvz" --state-dir "$P" templates prune -f "$work/none.yaml" 2>&1) || { echo "$o"; break; }
  pruned=$((pruned + 1))
done
wait $bg
check "the apply beside $pruned prunes succeeded" grep -q "Apply complete: 6 changes" "$work/p.log"
check "every container runs" test "$(virsh -q -c $uri list --name | grep -c "^$p-p")" = 6
check "the template is stored once, reported once" test "$(grep -c 'bb: stored' "$work/p.log")" = 1
check "each start is reported once" test "$(grep -c "$p-p1: starting" "$work/p.log")" = 1
# as the guests see it: an overlay on the shared template is mounted in libvirtd's namespace only
check "every rootfs is whole" sh -c "for i in 1 2 3 4 5 6; do nsenter -t \$(cat /run/libvirtd.pid) -m test -x '$P/containers/$p-p/$p-p'\$i/rootfs/bin/busybox || exit 1; done"
run 0 "$kvz" --state-dir "$P" templates prune -f "$work/none.yaml" && has "removed 0 cache entries" &&
  ok "the guests' template is kept after the apply"
run 0 "$kvz" --state-dir "$P" destroy -f "$work/p.yaml" --auto-approve
if run 0 "$kvz" --state-dir "$P" templates prune -f "$work/none.yaml" && has "removed 1 cache entry"; then
  ok "and pruned once no guest uses it"
else # which guest still says it was made from this template
  for d in $(virsh -q -c $uri list --all --name); do
    virsh -c $uri dumpxml "$d" 2>/dev/null | grep -q "$sha" && echo "    still using it: $d"
  done
fi
# --- mass stops: waiting is not work. Guests that ignore SIGTERM are all asked first, then
# forced when their own stop_timeout ends; --force skips the grace where the data goes anyway.
"$src/tests/integration/busybox-template" "$work/stub" stubborn || { echo "cannot build the stubborn template"; exit 1; }
stub="    url: file://$work/stub/busybox-rootfs.tar.gz
    sha256: $(cut -d' ' -f1 "$work/stub/SHA256SUMS")"
M=$work/M
{ for i in 1 2 3 4 5 6; do ct $p-m$i 32MiB "stop_timeout: 2s"; done; } | manifest "$work/m.yaml" "$p-m" "$stub"
run 0 "$kvz" --state-dir "$M" apply -f "$work/m.yaml" --auto-approve
run 0 "$kvz" --state-dir "$M" destroy -f "$work/m.yaml" --auto-approve --parallel 1 && ok "destroyed 6 stubborn containers"
last_ask=$(grep -n ": stopping$" <<<"$out" | tail -1 | cut -d: -f1)
first_force=$(grep -n "did not stop in time; forcing" <<<"$out" | head -1 | cut -d: -f1)
check "all 6 were asked to stop before the first was forced, with --parallel 1" \
  test "$(grep -c ": stopping$" <<<"$out")" = 6 -a -n "$first_force" -a "${last_ask:-99}" -lt "${first_force:-0}"
check "each was forced at its stop_timeout" test "$(grep -c "did not stop in time; forcing" <<<"$out")" = 6
check "none is left" test -z "$(virsh -q -c $uri list --all --name | grep "^$p-m")"
run 0 "$kvz" --state-dir "$M" apply -f "$work/m.yaml" --auto-approve
run 0 "$kvz" --state-dir "$M" destroy -f "$work/m.yaml" --auto-approve --force && lacks ": stopping" &&
  check "--force: forced off at once" test "$(grep -c "forcing off (--force)" <<<"$out")" = 6
finish
