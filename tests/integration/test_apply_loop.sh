#!/usr/bin/env bash
# The whole loop against the real libvirtd (LXC): plan, apply, drift, ownership,
# --max-disruption, stale plan files, the lock, SIGKILL then converge, destroy.
# Every domain is named kvzt-<pid>-*, in its own stacks and state dir; all removed at exit.
set -uo pipefail
kvz=${KVZ_BINARY:?KVZ_BINARY must name the kvz binary}
src=${KVZ_SOURCE_DIR:?}
uri=lxc:///system
p=kvzt-$$
work=$(mktemp -d /tmp/$p-XXXXXX)
state=$work/state
export KVZ_STATE_DIR=$state NO_COLOR=1
fails=0

cleanup() {
  [[ -n ${bg:-} ]] && kill -KILL "$bg" 2>/dev/null
  for d in $(virsh -q -c $uri list --all --name 2>/dev/null | grep "^$p-"); do
    virsh -q -c $uri destroy "$d" >/dev/null 2>&1
    virsh -q -c $uri undefine "$d" >/dev/null 2>&1
  done
  rm -rf "$work"
}
trap cleanup EXIT

. "$(dirname "$0")/shlib.sh"
domstate() { virsh -q -c $uri domstate "$1" 2>/dev/null | head -1; }
domid() { virsh -q -c $uri domid "$1" 2>/dev/null | head -1; }

"$src/tests/integration/busybox-template" "$work/tpl" || { echo "cannot build the template"; exit 1; }
sha=$(cut -d' ' -f1 "$work/tpl/SHA256SUMS")

manifest() { # manifest FILE STACK, resource YAML (under containers:) on stdin
  {
    printf 'kvz: 1\nstack: %s\n' "$2"
    printf 'connection:\n  containers: %s\n' "$uri"
    printf 'templates:\n  bb:\n    url: file://%s/tpl/busybox-rootfs.tar.gz\n    sha256: %s\n' "$work" "$sha"
    printf 'containers:\n'
    cat
  } >"$1"
}
ct() { # ct NAME MEMORY [extra YAML lines...]
  printf '  %s:\n    template: bb\n    memory: %s\n    network: none\n' "$1" "$2"
  shift 2
  for l in "$@"; do printf '    %s\n' "$l"; done
}

m=$work/web.yaml
web() { { ct $p-a "$1" "${@:3}"; ct $p-b 64MiB "cpus: 0.5" ${2:+"$2"}; } | manifest "$m" "$p-web"; }
web 64MiB ""

# --- another stack's guest exists first and must stay untouched
mo=$work/other.yaml
ct $p-other 32MiB | manifest "$mo" "$p-other"
run 0 "$kvz" apply -f "$mo" --auto-approve && ok "other stack applied"

# --- one failed resource does not stop the others; the run ends with a summary and exit 1
mf=$work/fail.yaml
{
  printf 'kvz: 1\nstack: %s\nconnection:\n  containers: %s\ntemplates:\n' "$p-fail" "$uri"
  printf '  bb:\n    url: file://%s/tpl/busybox-rootfs.tar.gz\n    sha256: %s\n' "$work" "$sha"
  printf '  broken:\n    url: file://%s/tpl/busybox-rootfs.tar.gz\n    sha256: %064d\n' "$work" 0
  printf 'containers:\n'
  ct $p-good 32MiB
  printf '  %s:\n    template: broken\n    memory: 32MiB\n    network: none\n' "$p-bad"
} >"$mf"
run 1 "$kvz" apply -f "$mf" --auto-approve && has "template 'broken'" && has "$p-bad (container): create failed" &&
  has "$p-good (container): create done" && has "1 done, 1 failed" && ok "a failed resource leaves the others alone"
check "good created despite bad" test "$(domstate $p-good)" = running
check "bad not created" test -z "$(domstate $p-bad)"
run 0 "$kvz" destroy -f "$mf" --auto-approve && ok "destroy the partial stack"

# --- plan on an empty host
run 2 "$kvz" plan -f "$m" --detailed-exitcode && has "+ $p-a (container)" &&
  has "Plan: 2 to create, 0 to update (0 live, 0 restart), 0 to replace, 0 to delete." && ok "plan shows two creates"
run 0 "$kvz" plan -f "$m" --json &&
  has '"summary": {"create": 2, "update": 0, "replace": 0, "delete": 0, "start": 0, "stop": 0, "noop": 0}' && ok "plan --json"

# --- no terminal, no --auto-approve: refused, nothing made
run 1 "$kvz" apply -f "$m" && has "pass --auto-approve" && ok "apply refuses without a terminal"
check "nothing created by the refused apply" test -z "$(domstate $p-a)"

# --- apply, then a second plan is empty
run 0 "$kvz" apply -f "$m" --auto-approve --parallel 2 && has "$p-a (container): create done" && ok "apply creates"
check "a running" test "$(domstate $p-a)" = running
check "b running" test "$(domstate $p-b)" = running
check "other stack untouched by apply" test "$(domstate $p-other)" = running
run 0 "$kvz" plan -f "$m" --detailed-exitcode && has "No changes" && ok "second plan is empty"
run 0 "$kvz" status -f "$m" && has "$p-a" && has "running" && has "$m" && ok "status lists the stack with its source"
run 0 "$kvz" status -f "$m" --json && has "\"name\": \"$p-b\"" && has '"drift": "none"' && ok "status --json"

# --- live change keeps the domain id; --max-disruption live allows it
id_before=$(domid $p-a)
web 96MiB ""
run 2 "$kvz" plan -f "$m" --detailed-exitcode && has "~ $p-a (container) (live)" &&
  has "memory: 64MiB -> 96MiB" && ok "memory change planned live"
run 0 "$kvz" apply -f "$m" --auto-approve --max-disruption live && ok "live update under --max-disruption live"
check "same domain id after a live change" test "$(domid $p-a)" = "$id_before"
run 0 "$kvz" plan -f "$m" --detailed-exitcode && ok "converged after live update"

# --- --max-disruption refuses a stop before touching anything
web 96MiB "state: stopped"
run 3 "$kvz" apply -f "$m" --auto-approve --max-disruption live && has "beyond --max-disruption live" &&
  has "nothing was changed" && ok "--max-disruption live refuses a stop"
check "b still running after the refusal" test "$(domstate $p-b)" = running
run 0 "$kvz" apply -f "$m" --auto-approve --max-disruption restart && ok "stop allowed under restart"
check "b stopped" test "$(domstate $p-b)" = "shut off"
web 96MiB ""
run 0 "$kvz" apply -f "$m" --auto-approve && ok "b started again"
check "b running" test "$(domstate $p-b)" = running

# --- drift: stopped by hand is planned back
virsh -q -c $uri destroy $p-a >/dev/null
run 2 "$kvz" plan -f "$m" --detailed-exitcode && has "> $p-a (container) (start)" &&
  has "stopped outside kvz" && ok "stopped by hand shows as drift"
run 0 "$kvz" apply -f "$m" --auto-approve && ok "drift applied back"
check "a running again" test "$(domstate $p-a)" = running

# --- drift: memory changed by hand
virsh -q -c $uri memtune $p-b --hard-limit 40960 --live >/dev/null 2>&1
run 2 "$kvz" plan -f "$m" --detailed-exitcode && has "~ $p-b (container) (live)" &&
  has "memory: 40MiB -> 64MiB" && ok "memory changed by hand shows as drift"
run 0 "$kvz" apply -f "$m" --auto-approve && run 0 "$kvz" plan -f "$m" --detailed-exitcode &&
  ok "memory drift applied back"

# --- drift: CPU quota changed by hand (b has cpus 0.5)
virsh -q -c $uri schedinfo $p-b --live --set vcpu_quota=25000 >/dev/null
run 2 "$kvz" plan -f "$m" --detailed-exitcode && has "~ $p-b (container) (live)" &&
  has "cpus: 0.25 -> 0.5" && has "cpus changed outside kvz" && ok "CPU quota changed by hand shows as drift"
run 0 "$kvz" apply -f "$m" --auto-approve && run 0 "$kvz" plan -f "$m" --detailed-exitcode &&
  ok "CPU drift applied back"

# --- drift: a deleted rootfs is a replace, which --max-disruption restart refuses
rm -rf "$state/containers/$p-web/$p-b/rootfs"
run 2 "$kvz" plan -f "$m" --detailed-exitcode && has "-/+ $p-b (container)" &&
  has "rootfs missing: the old rootfs is lost" && ok "deleted rootfs planned as replace"
run 3 "$kvz" apply -f "$m" --auto-approve --max-disruption restart && has "would replace" &&
  ok "--max-disruption restart refuses a replace"
run 0 "$kvz" apply -f "$m" --auto-approve && ok "replace applied"
check "b running after replace" test "$(domstate $p-b)" = running
# as b has it: on shared layers the overlay is mounted in libvirtd's namespace only
check "b has a rootfs again" nsenter -t "$(cat /run/libvirtd.pid)" -m test -x "$state/containers/$p-web/$p-b/rootfs/sbin/init"
run 0 "$kvz" plan -f "$m" --detailed-exitcode && ok "converged after replace"

# --- approval on a terminal: anything but "yes" cancels, "yes" applies
web 112MiB ""
out=$(printf 'no\n' | script -qec "$kvz apply -f $m" /dev/null 2>&1)
grep -qF "Only 'yes' is accepted" <<<"$out" && grep -qF "apply cancelled: nothing was changed" <<<"$out" &&
  ok "a terminal answer other than yes cancels" || bad "terminal prompt (no): $out"
run 2 "$kvz" plan -f "$m" --detailed-exitcode && ok "nothing changed after the cancel"
out=$(printf 'yes\n' | script -qec "$kvz apply -f $m" /dev/null 2>&1)
grep -qF "Apply complete" <<<"$out" && ok "yes on a terminal applies" || bad "terminal prompt (yes): $out"
run 0 "$kvz" plan -f "$m" --detailed-exitcode && ok "converged after the approved apply"
web 96MiB ""
run 0 "$kvz" apply -f "$m" --auto-approve

# --- --target: only the named resource changes
{ ct $p-a 104MiB; ct $p-b 72MiB "cpus: 0.5"; } | manifest "$m" "$p-web"
run 0 "$kvz" apply -f "$m" --auto-approve --target $p-a && has "memory: 96MiB -> 104MiB" && ok "--target applies a"
grep -qF "$p-b" <<<"$out" && bad "--target touched b" || ok "--target leaves b alone"
run 2 "$kvz" plan -f "$m" --detailed-exitcode && has "~ $p-b (container) (live)" && has "Plan: 0 to create, 1 to update" &&
  ok "b still pending after a targeted apply"
run 1 "$kvz" plan -f "$m" --target nope && has "target 'nope' is neither in the manifests nor managed by stack '$p-web'" &&
  ok "unknown target refused"
web 96MiB ""
run 0 "$kvz" apply -f "$m" --auto-approve

# --- a saved plan applies while fresh, is refused when stale
web 128MiB ""
run 2 "$kvz" plan -f "$m" -o "$work/plan.json" --detailed-exitcode && ok "plan -o"
virsh -q -c $uri memtune $p-b --hard-limit 50000 --live >/dev/null
run 1 "$kvz" apply "$work/plan.json" && has "stale plan: the host changed" && ok "stale plan refused"
check "the stale plan changed nothing" test "$(virsh -q -c $uri memtune $p-b | grep hard_limit | tr -dc 0-9)" = 50000
run 2 "$kvz" plan -f "$m" -o "$work/plan.json" --detailed-exitcode
run 0 "$kvz" apply "$work/plan.json" && ok "fresh plan file applied"
run 0 "$kvz" plan -f "$m" --detailed-exitcode && ok "converged after the plan file"
cp "$m" "$work/edited.yaml"
run 0 "$kvz" plan -f "$work/edited.yaml" -o "$work/plan2.json"
echo "# edited" >>"$work/edited.yaml"
run 1 "$kvz" apply "$work/plan2.json" && has "stale plan: the manifests changed" && ok "plan file refused after a manifest edit"

# --- unmanaged same-named domain
cat >"$work/raw.xml" <<EOF
<domain type='lxc'><name>$p-raw</name><memory unit='MiB'>32</memory>
<os><type>exe</type><init>/bin/sh</init></os>
<devices><filesystem type='mount'><source dir='$work/tpl'/><target dir='/'/></filesystem></devices></domain>
EOF
virsh -q -c $uri define "$work/raw.xml" >/dev/null
mu=$work/unmanaged.yaml
{ ct $p-a 128MiB; ct $p-b 64MiB "cpus: 0.5"; ct $p-raw 32MiB; } | manifest "$mu" "$p-web"
run 1 "$kvz" plan -f "$mu" && has "container '$p-raw': a domain of that name exists and is not managed by kvz" &&
  ok "unmanaged same-named domain refused"
run 1 "$kvz" apply -f "$mu" --auto-approve && ok "apply refuses it too"
check "the unmanaged domain is untouched" test "$(domstate $p-raw)" = "shut off"
virsh -q -c $uri undefine $p-raw >/dev/null

# --- protect: removing a protected resource from the manifests fails the plan
web 128MiB "" "protect: true"
run 0 "$kvz" apply -f "$m" --auto-approve && ok "protect recorded"
mp=$work/protect.yaml
ct $p-b 64MiB "cpus: 0.5" | manifest "$mp" "$p-web"
run 1 "$kvz" plan -f "$mp" && has "container '$p-a' is protected and would be deleted" && ok "protected resource not deleted"
run 1 "$kvz" destroy -f "$m" --auto-approve && has "is protected" && ok "destroy refuses a protected resource"
check "protected a still runs" test "$(domstate $p-a)" = running
web 128MiB ""
run 0 "$kvz" apply -f "$m" --auto-approve && ok "protect lifted"

# --- the lock: a second apply fails at once naming the holder
mm=$work/more.yaml
{ ct $p-a 128MiB; ct $p-b 64MiB "cpus: 0.5"; for i in 1 2 3; do ct $p-c$i 32MiB; done; } | manifest "$mm" "$p-web"
"$kvz" apply -f "$mm" --auto-approve --parallel 1 >"$work/bg.log" 2>&1 &
bg=$!
for _ in $(seq 1 1000); do grep -q "pid $bg " "$state/lock" 2>/dev/null && break; sleep 0.01; done
kill -STOP $bg
# The holder is stopped and never lets go: an apply that waited for the lock would never end, so
# returning at all (timeout only bounds a hang) is failing at once.
run 1 timeout 300 "$kvz" apply -f "$m" --auto-approve && has "is locked by another kvz (pid $bg since " &&
  ok "second apply fails at once, naming the holder"
kill -CONT $bg

# --- SIGKILL during an apply (as soon as a create has begun), then an apply converges
for _ in $(seq 1 3000); do grep -q "$p-c1 (container): create$" "$work/bg.log" && break; sleep 0.005; done
kill -KILL $bg && ok "apply killed"
wait $bg 2>/dev/null
bg=
check "the killed apply had not finished" test -z "$(grep 'Apply complete' "$work/bg.log")"
run 2 "$kvz" plan -f "$mm" --detailed-exitcode && ok "the killed apply left work to do"
run 0 "$kvz" apply -f "$mm" --auto-approve && ok "apply after SIGKILL"
run 0 "$kvz" plan -f "$mm" --detailed-exitcode && has "No changes" && ok "converged after SIGKILL"
for i in 1 2 3; do check "c$i running" test "$(domstate $p-c$i)" = running; done

# --- resources dropped from the manifests are deleted
run 2 "$kvz" plan -f "$m" --detailed-exitcode && has "- $p-c1 (container)" && has "3 to delete" && ok "orphans planned for deletion"
run 0 "$kvz" apply -f "$m" --auto-approve && ok "orphans deleted"
check "c1 gone" test -z "$(domstate $p-c1)"
check "c1 files gone" test ! -e "$state/containers/$p-web/$p-c1"

# --- destroy, with the other stack untouched
run 0 "$kvz" destroy -f "$m" --auto-approve && ok "destroy"
check "a gone" test -z "$(domstate $p-a)"
check "a files gone" test ! -e "$state/containers/$p-web/$p-a"
check "other stack untouched by destroy" test "$(domstate $p-other)" = running
run 0 "$kvz" destroy -f "$mo" --auto-approve

finish
