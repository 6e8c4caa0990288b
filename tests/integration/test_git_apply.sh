#!/usr/bin/env bash
# Plan and apply from a git source on the real libvirtd (LXC, busybox): the commit printed and
# recorded as provenance (guest metadata, status), a saved plan applied after its branch moved,
# a pinned commit the mirror no longer has, exit 3 for --max-disruption, the pull-mode skip;
# then the same manifest with hosts: (its commit printed, in JSON, pinned in a saved plan).
set -uo pipefail
kvz=${KVZ_BINARY:?KVZ_BINARY must name the kvz binary}
src_dir=${KVZ_SOURCE_DIR:?}
uri=lxc:///system
p=kvzt12-$$
work=$(mktemp -d /tmp/$p-XXXXXX)
state=$work/state
export KVZ_STATE_DIR=$state NO_COLOR=1 GIT_CONFIG_NOSYSTEM=1
fails=0
. "$(dirname "$0")/shlib.sh"
cleanup() {
  remove_domains $uri "$p-"
  rm -rf "$work"
}
trap cleanup EXIT

"$src_dir/tests/integration/busybox-template" "$work/tpl" || { echo "cannot build the template"; exit 1; }
sha=$(cut -d' ' -f1 "$work/tpl/SHA256SUMS")
g() { git -C "$work/clone" -c user.name=kvz-test -c user.email=test@example.org "$@"; }
commit() { # commit MEMORY [HOSTNAME]
  {
    if [[ -n ${hosts:-} ]]; then # the manifest with hosts: (docs/hosts.md), one host
      printf 'kvz: 1\nstack: %s\nhosts:\n  local:\n    containers: %s\n' "$p" "$uri"
    else
      printf 'kvz: 1\nstack: %s\nconnection:\n  containers: %s\n' "$p" "$uri"
    fi
    printf 'templates:\n  bb:\n    url: file://%s/tpl/busybox-rootfs.tar.gz\n    sha256: %s\n' "$work" "$sha"
    printf 'containers:\n  %s-a:\n    template: bb\n    memory: %s\n    network: none\n' "$p" "$1"
    [[ -n ${2:-} ]] && printf '    hostname: %s\n' "$2"
  } >"$work/clone/web/kvz.yaml"
  g add web && g commit -q -m "memory $1" && g push -q -f origin HEAD:main 2>/dev/null
}
mem() { virsh -q -c $uri dommemstat "$p-a" 2>/dev/null | awk '$1=="actual"{print $2}'; }

git init -q --bare -b main "$work/origin.git"
git clone -q "$work/origin.git" "$work/clone" 2>/dev/null
mkdir -p "$work/clone/web"
commit 64MiB
c1=$(g rev-parse HEAD)
src="git+file://$work/origin.git//web"

# --- the commit is printed with the plan, and is the guest's provenance
run 2 "$kvz" plan --detailed-exitcode -f "$src" && has "commit $c1 of main" && has "+ $p-a (container)"
run 0 "$kvz" plan --json -f "$src" && has "\"commit\": \"$c1\"" || has "\"commit\":\"$c1\""
run 0 "$kvz" apply --auto-approve -f "$src" && has "Apply complete"
prov="file://$work/origin.git@$c1:web/kvz.yaml"
check "provenance in the guest's metadata" grep -qF "$prov" <(virsh -c $uri dumpxml "$p-a")
run 0 "$kvz" status -f "$src" && has "$prov"

# --- nothing new: the pull-mode run says it skips
run 0 "$kvz" apply --auto-approve -f "$src" && has "applied before and nothing drifted: skipping"

# --- a saved plan pins its commit: applied after the branch moved, it applies that commit
commit 96MiB
c2=$(g rev-parse HEAD)
run 0 "$kvz" plan -f "$src" -o "$work/plan.json" && has "commit $c2 of main"
check "the plan file pins the commit" grep -qF "$c2" "$work/plan.json"
commit 128MiB
c3=$(g rev-parse HEAD)
run 0 "$kvz" apply "$work/plan.json" && has "commit $c2 of main" && has "Apply complete"
check "the planned commit's memory (96MiB), not the branch's" test "$(mem)" = 98304
check "provenance is the planned commit" grep -qF "@$c2:web/kvz.yaml" <(virsh -c $uri dumpxml "$p-a")
run 0 "$kvz" apply --auto-approve -f "$src" && has "commit $c3 of main"
check "then the branch's memory (128MiB)" test "$(mem)" = 131072
run 0 "$kvz" apply --auto-approve -f "$src" && has "skipping"

# --- --max-disruption: exit 3, nothing changed
commit 128MiB renamed
run 3 "$kvz" apply --auto-approve --max-disruption live -f "$src" && has "beyond --max-disruption live"
check "not restarted" test "$(virsh -c $uri dumpxml "$p-a" | grep -c renamed)" = 0

# --- a saved plan whose commit is gone from the repository and the mirror: refused
run 0 "$kvz" plan -f "$src" -o "$work/plan2.json"
cgone=$(g rev-parse HEAD)
g reset -q --hard "$c3" && commit 112MiB
git -C "$work/origin.git" reflog expire --expire=now --all && git -C "$work/origin.git" gc -q --prune=now
rm -rf "$state"/git/*
run 1 "$kvz" apply "$work/plan2.json" && has "commit $cgone of the saved plan is no longer in"
check "nothing applied" test "$(mem)" = 131072

# --- the same with hosts: a saved plan of many hosts pins its commit too
hosts=1 commit 80MiB
c4=$(g rev-parse HEAD)
run 0 "$kvz" plan -f "$src" -o "$work/plan3.json" && has "commit $c4 of main" && has "Saved the plan of 1 host"
check "the plan file of hosts pins the commit" python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["format_version"] == 2 and j["commits"] == [sys.argv[2]], j["commits"]' "$work/plan3.json" "$c4"
run 0 "$kvz" plan --json -f "$src" && { has "\"commit\": \"$c4\"" || has "\"commit\":\"$c4\""; }
run 0 "$kvz" plan --format markdown -f "$src" && has "commit $c4 of main" && has "#### Host \`local\`"
hosts=1 commit 72MiB
run 0 "$kvz" apply "$work/plan3.json" && has "commit $c4 of main" && has "local: $p-a (container): update done"
check "the planned commit's memory (80MiB), over hosts" test "$(mem)" = 81920

finish
