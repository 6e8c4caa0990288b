#!/usr/bin/env bash
# Many hosts (issue 11) on real libvirt remote connections: the host "there" is a second
# libvirtd in its own mount namespace (remote-host/start), reached only through lxc+ssh:// and
# qemu+ssh:// to an sshd on a loopback port; "here" is the runner's libvirtd; "dead" is an ssh
# URI nothing listens on. plan observes them at once, plans each alone, and a host that cannot
# be reached or planned fails alone. Every domain is named kvzt11-<pid>-*; all removed at exit.
set -uo pipefail
kvz=${KVZ_BINARY:?KVZ_BINARY must name the kvz binary}
src=${KVZ_SOURCE_DIR:?}
p=kvzt11-$$
work=$(mktemp -d /tmp/$p-XXXXXX)
rdir=/var/tmp/$p-remote
export NO_COLOR=1
fails=0
. "$(dirname "$0")/shlib.sh"
planted=
locks_before=$(virsh -q -c lxc:///system pool-info kvz-locks >/dev/null 2>&1 && echo yes)
cleanup() {
  remove_domains lxc:///system "$p-"
  [[ -n $planted ]] && virsh -q -c lxc:///system vol-delete --pool kvz-locks host.lock >/dev/null 2>&1
  # the runner's kvz-locks pool, when this test made it and it is empty
  if [[ -z $locks_before ]] && ! virsh -q -c lxc:///system vol-list kvz-locks 2>/dev/null | grep -q .; then
    virsh -q -c lxc:///system pool-destroy kvz-locks >/dev/null 2>&1
    virsh -q -c lxc:///system pool-undefine kvz-locks >/dev/null 2>&1
    rmdir /var/lib/libvirt/kvz/locks 2>/dev/null
  fi
  "$src/tests/integration/remote-host/stop" "$rdir"
  rm -rf "$work"
}
trap cleanup EXIT
"$src/tests/integration/remote-host/start" "$rdir" >/dev/null
rc=$?
[[ $rc == 77 ]] && { echo "skip: no sshd (scripts/bootstrap installs openssh-server)"; exit 77; }
((rc == 0)) || { echo "FAIL - the remote host fixture did not start"; exit 1; }
# shellcheck disable=SC1091
. "$rdir/env"
"$src/tests/integration/busybox-template" "$work/tpl" || { echo "cannot build the template"; exit 1; }
sha=$(cut -d' ' -f1 "$work/tpl/SHA256SUMS")
tar=$work/tpl/busybox-rootfs.tar.gz
S=$work/state
dead='lxc+ssh://root@127.0.0.1:1/system?no_verify=1'

ct() { # ct NAME HOST
  printf '  %s:\n    host: %s\n    template: bb\n    memory: 32MiB\n    network: none\n' "$1" "$2"
}
manifest() { # manifest FILE, hosts (YAML under hosts:) in $hosts, containers on stdin
  { printf 'kvz: 1\nstack: %s\nhosts:\n%s\ntemplates:\n  bb:\n    url: file://%s\n    sha256: %s\ncontainers:\n' \
      "$p-s" "$hosts" "$tar" "$sha"; cat; } >"$1"
}
hosts="  here:
    containers: lxc:///system
  there:
    containers: $KVZ_REMOTE_LXC
    vms: $KVZ_REMOTE_QEMU
  dead:
    containers: $dead"

# --- the fixture is another host: its libvirt sees none of the runner's domains, and the reverse
virsh -q -c "$KVZ_REMOTE_LXC" define /dev/stdin >/dev/null <<XML
<domain type='lxc'><name>$p-taken</name><memory>32768</memory><os><type>exe</type><init>/bin/sh</init></os>
<devices><filesystem type='mount'><source dir='/'/><target dir='/'/></filesystem></devices></domain>
XML
check "a domain defined on 'there' is seen there" virsh -q -c "$KVZ_REMOTE_LXC" dominfo $p-taken
check "... and not by the runner's libvirtd" bash -c "! virsh -q -c lxc:///system dominfo $p-taken >/dev/null 2>&1"

# --- plan: three hosts at once; "dead" fails alone and is named; the others are planned
{ ct $p-a here; ct $p-b there; ct $p-c dead; } | manifest "$work/three.yaml"
run 1 "$kvz" --state-dir "$S" plan -f "$work/three.yaml" &&
  has "Host here:" && has "  + $p-a (container)" && has "Host there:" && has "  + $p-b (container)" &&
  has "Host dead:" && has "  ! not planned: host 'dead': cannot connect to '$dead' for the containers" &&
  has "Plan: 2 to create, 0 to update (0 live, 0 restart), 0 to replace, 0 to delete." &&
  has "  here: 1 to create," && has "  there: 1 to create," && has "  dead: not planned" &&
  has "error: plan: 1 of 3 hosts could not be planned" && lacks "$p-c (container)" &&
  ok "plan: 'dead' fails alone, exit 1, the summary names it; the others are planned"

# --- --host limits the plan; JSON has "host" on every change and counts per host
run 0 "$kvz" --state-dir "$S" plan -f "$work/three.yaml" --host there --host here --json
if python3 - "$p" "$out" <<'PY'; then ok "--host here --host there: JSON names each change's host"; else bad "JSON of two hosts: $out"; fi
import json, sys
p, j = sys.argv[1], json.loads(sys.argv[2])
assert {c["name"]: c["host"] for c in j["changes"]} == {p + "-a": "here", p + "-b": "there"}
assert j["summary"]["create"] == 2 and set(j["hosts"]) == {"here", "there"}
assert j["hosts"]["here"]["summary"]["create"] == 1 and j["hosts"]["there"]["summary"]["create"] == 1
PY
run 1 "$kvz" --state-dir "$S" plan -f "$work/three.yaml" --host nowhere &&
  has "--host 'nowhere' is not a host of the manifests" && ok "--host of an unknown host is refused"
run 2 "$kvz" --state-dir "$S" plan -f "$work/three.yaml" --host there --detailed-exitcode &&
  lacks "Host here:" && has "Host there:" && ok "--detailed-exitcode over hosts: 2 with changes"

# --- the remote host is really observed: a domain kvz does not own there refuses that host only
{ ct $p-a here; ct $p-taken there; } | manifest "$work/taken.yaml"
run 1 "$kvz" --state-dir "$S" plan -f "$work/taken.yaml" --host here --host there &&
  has "  + $p-a (container)" && has "host 'there': cannot plan stack '$p-s'" && has "$p-taken" &&
  ok "an unmanaged domain on 'there' (seen over ssh) refuses 'there' alone"

# --- a guest kvz made on 'here' (manifest without hosts:), then planned across two hosts
printf 'kvz: 1\nstack: %s\ntemplates:\n  bb:\n    url: file://%s\n    sha256: %s\ncontainers:\n' "$p-s" "$tar" "$sha" >"$work/one.yaml"
ct $p-m local >>"$work/one.yaml"
run 0 "$kvz" --state-dir "$S" apply -f "$work/one.yaml" --auto-approve && ok "applied $p-m on the runner's host"
{ ct $p-m here; } | manifest "$work/here.yaml"
run 0 "$kvz" --state-dir "$S" plan -f "$work/here.yaml" --host here --host there --detailed-exitcode &&
  has "Host here:" && has "  no changes (1 resource)" && has "Host there:" && has "  no changes (0 resources)" &&
  ok "replan across two hosts: no changes on either"
{ ct $p-m there; } | manifest "$work/moved.yaml"
run 0 "$kvz" --state-dir "$S" plan -f "$work/moved.yaml" --host here --host there &&
  has "  - $p-m (container)" && has "# host: here -> there (no migration: removed here, made anew on there)" &&
  has "  -/+ $p-m (container)" && has "# host: here -> there (no migration: made anew here, removed from here)" &&
  has "Plan: 0 to create, 0 to update (0 live, 0 restart), 1 to replace, 1 to delete." &&
  ok "changing host: is a replace on the new host and a delete on the old one"
{ ct $p-m dead; } | manifest "$work/moved-dead.yaml"
run 1 "$kvz" --state-dir "$S" apply -f "$work/moved-dead.yaml" --host here --host dead --auto-approve &&
  has "container '$p-m' moves from host 'here' to 'dead', which cannot be applied" &&
  has "nothing was changed" && ok "a move to a host that cannot be reached is refused before any change"
check "$p-m still runs here" test "$(virsh -q -c lxc:///system domstate $p-m | head -1)" = running
run 0 "$kvz" --state-dir "$S" destroy -f "$work/one.yaml" --auto-approve && ok "destroyed $p-m"

# --- apply to three hosts: 'here' is applied; 'there' (a container without disk:, which a
# remote host needs) and 'dead' fail alone, exit 1, named; nothing of b is made on either side
run 1 "$kvz" --state-dir "$S" apply -f "$work/three.yaml" --auto-approve &&
  has "here: $p-a (container): create done" && has "  here: ok" && has "  there: failed" &&
  has "  dead: failed" && has "container '$p-b' is on a remote host, where its rootfs is an ext4 image: give it 'disk:'" &&
  has "host 'dead': cannot connect" && has "error: apply: 2 of 3 hosts failed; the others were applied" &&
  ok "apply: 'here' applied, 'there' and 'dead' fail alone, exit 1"
check "$p-a runs on the runner's host" test "$(virsh -q -c lxc:///system domstate $p-a | head -1)" = running
check "nothing of $p-b on 'there'" bash -c "! virsh -q -c '$KVZ_REMOTE_LXC' dominfo $p-b >/dev/null 2>&1"
check "nothing of $p-b in the state dir" test ! -e "$S/containers/$p-s/$p-b"
run 0 "$kvz" --state-dir "$S" plan -f "$work/three.yaml" --host here --detailed-exitcode &&
  has "  no changes (1 resource)" && ok "replan of 'here' after the apply: no changes"
run 0 "$kvz" --state-dir "$S" destroy -f "$work/three.yaml" --host here --auto-approve &&
  has "here: $p-a (container): delete done" && ok "destroy --host here"
check "$p-a is gone" bash -c "! virsh -q -c lxc:///system dominfo $p-a >/dev/null 2>&1"
check "the remote host has only what the test defined" test "$(virsh -q -c "$KVZ_REMOTE_LXC" list --all --name | grep -c .)" = 1

# --- a saved plan of two hosts: it records each host and refuses a changed inventory before it
# contacts anything, refuses the whole plan when one host changed, and applies exactly it
two="  here:
    containers: lxc:///system
  there:
    containers: $KVZ_REMOTE_LXC"
ctp() { # ctp NAME HOST MEMORY
  printf '  %s:\n    host: %s\n    template: bb\n    memory: %s\n    disk: 64MiB\n    network: none\n' "$1" "$2" "$3"
}
{ ctp $p-p1 here 48MiB; ctp $p-p2 there 48MiB; } | hosts=$two manifest "$work/pf.yaml"
run 1 "$kvz" --state-dir "$S" plan -f "$work/three.yaml" -o "$work/three.plan" &&
  has "plan -o: no plan file was saved" && ok "plan -o with a host that cannot be planned saves nothing"
check "... no file" test ! -e "$work/three.plan"
run 0 "$kvz" --state-dir "$S" plan -f "$work/pf.yaml" -o "$work/pf.plan" &&
  has "Host here:" && has "Host there:" && has "Saved the plan of 2 hosts to '$work/pf.plan'" &&
  ok "plan -o of two hosts"
if python3 - "$work/pf.plan" "$KVZ_REMOTE_LXC" <<'PY'; then ok "the plan file records each host, its URIs and plan"; else bad "plan file: $(cat "$work/pf.plan")"; fi
import json, sys
j = json.load(open(sys.argv[1]))
assert j["format_version"] == 2 and j["host_selection"] == []
assert [h["name"] for h in j["hosts"]] == ["here", "there"]
assert j["hosts"][1]["uris"] == {"containers": sys.argv[2], "vms": None}
assert all(len(h["observed_fingerprint"]) == 64 for h in j["hosts"])
assert [c["action"] for h in j["hosts"] for c in h["plan"]["changes"]] == ["create", "create"]
PY
run 1 "$kvz" --state-dir "$S" apply "$work/pf.plan" --host here &&
  has "a plan file holds its manifests, targets and hosts" && ok "apply PLANFILE --host is refused"
cp "$work/pf.yaml" "$work/pf.yaml.saved"
{ ctp $p-p1 here 48MiB; ctp $p-p2 there 48MiB; } | hosts="$two
  dead:
    containers: $dead" manifest "$work/pf.yaml"
run 1 "$kvz" --state-dir "$S" apply "$work/pf.plan" &&
  has "stale plan: host 'dead' was added to the manifests since it was made" && lacks "cannot connect" &&
  ok "a host added to the inventory: stale plan, refused before any host is contacted"
sed "s|$KVZ_REMOTE_LXC|lxc+ssh://root@127.0.0.2:1/system|" "$work/pf.yaml.saved" >"$work/pf.yaml"
run 1 "$kvz" --state-dir "$S" apply "$work/pf.plan" &&
  has "stale plan: host 'there' has another URI for containers now" && ok "a host moved to another URI: stale plan"
cp "$work/pf.yaml.saved" "$work/pf.yaml"
check "nothing was made by the refused plans" bash -c "! virsh -q -c lxc:///system dominfo $p-p1 >/dev/null 2>&1 && ! virsh -q -c '$KVZ_REMOTE_LXC' dominfo $p-p2 >/dev/null 2>&1"
run 0 "$kvz" --state-dir "$S" apply "$work/pf.plan" &&
  has "here: $p-p1 (container): create done" && has "there: $p-p2 (container): create done" &&
  has "Apply complete: 2 changes done on 2 hosts." && ok "apply PLANFILE of two hosts applies exactly it"
check "the lock of 'here' is released too" test -z "$(virsh -q -c lxc:///system vol-list kvz-locks 2>/dev/null | grep host.lock)"
# the template moved to another URL with the same bytes: its guests on both hosts keep it (the
# planner compares templates by content digest over hosts, as for one host)
cp "$tar" "$work/moved.tar.gz"
{ ctp $p-p1 here 48MiB; ctp $p-p2 there 48MiB; } | hosts=$two tar=$work/moved.tar.gz manifest "$work/pf-moved.yaml"
run 0 "$kvz" --state-dir "$S" plan -f "$work/pf-moved.yaml" --detailed-exitcode &&
  has "  no changes (1 resource)" && lacks "-/+" && ok "a template at a new URL with the same digest: no replace on either host"
{ ctp $p-p1 here 64MiB; ctp $p-p2 there 64MiB; } | hosts=$two manifest "$work/pf.yaml"
run 0 "$kvz" --state-dir "$S" plan -f "$work/pf.yaml" -o "$work/pf2.plan" &&
  has "  ~ $p-p1 (container) (live)" && has "  ~ $p-p2 (container) (live)" && ok "plan -o of a live change on both hosts"
virsh -q -c "$KVZ_REMOTE_LXC" destroy $p-p2 >/dev/null
run 1 "$kvz" --state-dir "$S" apply "$work/pf2.plan" &&
  has "stale plan: host 'there' changed since it was made" &&
  has "a saved plan is applied whole or not at all" && lacks "update done" &&
  ok "one host changed by hand: the whole saved plan is refused, naming it"
check "... and 'here' was not changed" test "$(virsh -q -c lxc:///system dumpxml $p-p1 | sed -n 's:.*<currentMemory unit=.KiB.>\([0-9]*\)<.*:\1:p')" = $((48 << 10))
virsh -q -c "$KVZ_REMOTE_LXC" start $p-p2 >/dev/null
lockhere() { # lockhere JSON: a lock another runner left on the runner's own libvirtd ('here')
  printf '%s' "$1" >"$work/rec-here"
  virsh -q -c lxc:///system vol-create-as kvz-locks host.lock "$(stat -c %s "$work/rec-here")" >/dev/null &&
    virsh -q -c lxc:///system vol-upload --pool kvz-locks host.lock "$work/rec-here"
}
planted=1 # removed by cleanup if the test stops before it does
lockhere '{"pid": 4242, "since": "2026-01-01T00:00:00Z", "stack": "other", "state_dir": "/x", "where": "ci-runner-7", "who": "ci"}'
run 1 "$kvz" --state-dir "$S" apply "$work/pf2.plan" &&
  has "host 'here' is locked by ci@ci-runner-7 (pid 4242)" && lacks "update done" &&
  ok "a local host under hosts: has the host lock too: a runner applying over ssh excludes this one"
run 0 "$kvz" --state-dir "$S" unlock --host here -f "$work/pf.yaml" &&
  has "Removed the lock of host 'here', held by ci@ci-runner-7" && planted= && ok "kvz unlock --host here"
run 0 "$kvz" --state-dir "$S" apply "$work/pf2.plan" &&
  has "here: $p-p1 (container): update done" && has "there: $p-p2 (container): update done" &&
  ok "the same plan file applies once the host is as planned again"
run 1 "$kvz" --state-dir "$S" apply "$work/pf2.plan" &&
  has "stale plan: host 'here' changed since it was made" && ok "a saved plan applies once"
run 0 "$kvz" --state-dir "$S" destroy -f "$work/pf.yaml" --auto-approve && ok "destroyed $p-p1 and $p-p2"

# --- containers on two hosts: on 'there' the rootfs is an ext4 image volume of its pool, made
# here from the verified tree and uploaded; a live memory change keeps the domain and the
# kernel there enforces the new limit; replan of both hosts is empty; destroy leaves nothing
ctd() { # ctd NAME HOST MEMORY
  printf '  %s:\n    host: %s\n    template: bb\n    memory: %s\n    disk: 64MiB\n    network: none\n' "$1" "$2" "$3"
}
{ ctd $p-h1 here 48MiB; ctd $p-r1 there 48MiB; ctd $p-r2 there 48MiB; } | manifest "$work/cts.yaml"
run 0 "$kvz" --state-dir "$S" apply -f "$work/cts.yaml" --host here --host there --auto-approve &&
  has "there: $p-r1 (container): create done" && has "there: $p-r2 (container): create done" &&
  has "here: $p-h1 (container): create done" && has "there: $p-r1: rootfs image uploaded" &&
  ok "containers applied on 'here' and, over lxc+ssh://, on 'there'"
check "$p-r1 runs on 'there'" test "$(virsh -q -c "$KVZ_REMOTE_LXC" domstate $p-r1 | head -1)" = running
check "... not on the runner's libvirtd" bash -c "! virsh -q -c lxc:///system dominfo $p-r1 >/dev/null 2>&1"
cpool=$(virsh -q -c "$KVZ_REMOTE_LXC" pool-list --all --name | awk '/^kvz-/ {print $1}' | head -1)
check "two rootfs images and their marks in the pool of 'there'" test "$(virsh -q -c "$KVZ_REMOTE_LXC" vol-list "$cpool" | grep -c 'ct-.*\.img')" = 4
ctsrc=$(virsh -q -c "$KVZ_REMOTE_LXC" dumpxml $p-r1 | sed -n "s:.*<source file='\([^']*\)'.*:\1:p")
check "its rootfs is a volume file there ($ctsrc), mounted through a loop device" bash -c "nsenter -t $KVZ_REMOTE_PID -m test -f '$ctsrc' && [[ ! -e '$ctsrc' ]]"
check "nothing of the remote ones on the runner" test -z "$(find "$S" \( -name 'ct-*' -o -name "$p-r*" \) -print -quit)"
check "the image made here for the upload is gone" test -z "$(ls -A "$S/tmp")"
run 0 "$kvz" --state-dir "$S" plan -f "$work/cts.yaml" --host here --host there --detailed-exitcode &&
  has "Host here:" && has "  no changes (1 resource)" && has "  no changes (2 resources)" &&
  ok "replan across the two hosts: no changes on either"
run 0 "$kvz" --state-dir "$S" status -f "$work/cts.yaml" --host here --host there &&
  has "Host here:" && has "Host there:" && grep -qE "^  $p-r1 +container +running +48MiB +1 +none" <<<"$out" &&
  ok "status: a heading per host, the remote container running with no drift"
run 0 "$kvz" --state-dir "$S" status -f "$work/cts.yaml" --host here --host there --json
if python3 - "$p" "$out" <<'PY'; then ok "status --json: every row names its host"; else bad "status JSON: $out"; fi
import json, sys
p, j = sys.argv[1], json.loads(sys.argv[2])
rows = {r["name"]: r["host"] for r in j["resources"]}
assert rows == {p + "-h1": "here", p + "-r1": "there", p + "-r2": "there"}, rows
assert j["failed_hosts"] == {}
PY
run 1 "$kvz" --state-dir "$S" status -f "$work/three.yaml" &&
  has "  ! not seen: host 'dead': cannot connect" && has "status: 1 of 3 hosts could not be seen or planned" &&
  ok "status names the host it cannot see, exit 1"
run 1 "$kvz" --state-dir "$S" plan -f "$work/three.yaml" --format markdown &&
  has "#### Host \`there\`" && has "**1 of 3 hosts could not be planned:** \`dead\`" &&
  has "**Not planned:** host 'dead'" && ok "plan --format markdown of hosts: a section per host, 'dead' named"
run 0 "$kvz" --state-dir "$S" status --all --host there -f "$work/cts.yaml" &&
  has "Host there:" && has "$p-r1" && ok "status --all --host there: the guests of that host"
# a move of $p-h1 to 'there' deletes it here: beyond --max-disruption restart, exit 3, nothing done
{ ctd $p-h1 there 48MiB; ctd $p-r1 there 48MiB; ctd $p-r2 there 48MiB; } | manifest "$work/cts-moved.yaml"
run 3 "$kvz" --state-dir "$S" apply -f "$work/cts-moved.yaml" --host here --host there --auto-approve --max-disruption restart &&
  has "host 'here': the plan goes beyond --max-disruption restart; nothing was changed" &&
  ok "apply over hosts: a plan beyond --max-disruption exits 3"
check "$p-h1 still runs here" test "$(virsh -q -c lxc:///system domstate $p-h1 | head -1)" = running
run 0 "$kvz" --state-dir "$S" -q apply -f "$work/cts.yaml" --host here --host there --auto-approve &&
  lacks "Host here:" && has "Apply complete: 0 changes done on 2 hosts." &&
  ok "-q apply over hosts: no plan, the summary"
id1=$(virsh -q -c "$KVZ_REMOTE_LXC" domid $p-r1 | tr -d ' ')
{ ctd $p-h1 here 48MiB; ctd $p-r1 there 80MiB; ctd $p-r2 there 48MiB; } | manifest "$work/cts.yaml"
run 0 "$kvz" --state-dir "$S" apply -f "$work/cts.yaml" --host here --host there --auto-approve &&
  has "  ~ $p-r1 (container) (live)" && has "there: $p-r1 (container): update done" &&
  ok "a live memory change of a remote container"
check "same domain id on 'there'" test "$(virsh -q -c "$KVZ_REMOTE_LXC" domid $p-r1 | tr -d ' ')" = "$id1"
init=$(cut -d' ' -f1 "/proc/$id1/task/$id1/children")
cg=$(sed -n 's/^[0-9]*:memory://p' "/proc/$init/cgroup")
lim=$(nsenter -t "$KVZ_REMOTE_PID" -m cat "/sys/fs/cgroup/memory$cg/memory.limit_in_bytes" 2>/dev/null ||
  nsenter -t "$KVZ_REMOTE_PID" -m cat "/sys/fs/cgroup$(sed -n 's/^0:://p' "/proc/$init/cgroup")/memory.max")
check "the kernel on 'there' enforces 80MiB ($lim)" test "$lim" = $((80 << 20))
# --- a remote container's disk, hostname and ssh keys change in place: its image is downloaded,
# changed here and uploaded into its other slot; the domain moves onto it, the old one goes; the
# guest's own files and its domain (uuid) stay
ctx() { # ctx NAME HOST DISK [HOSTNAME [KEY]]
  printf '  %s:\n    host: %s\n    template: bb\n    memory: 80MiB\n    disk: %s\n    network: none\n' "$1" "$2" "$3"
  [[ -n ${4:-} ]] && printf '    hostname: %s\n' "$4"
  [[ -n ${5:-} ]] && printf '    ssh_authorized_keys:\n      - "%s"\n' "$5"
  return 0
}
initof() { local id; id=$(virsh -q -c "$KVZ_REMOTE_LXC" domid "$1" | tr -d ' '); cut -d' ' -f1 "/proc/$id/task/$id/children"; }
srcof() { virsh -q -c "$KVZ_REMOTE_LXC" dumpxml "$1" | sed -n "s:.*<source file='\([^']*\)'.*:\1:p"; }
uuid1=$(virsh -q -c "$KVZ_REMOTE_LXC" domuuid $p-r1)
src_a=$(srcof $p-r1)
nsenter -t "$(initof $p-r1)" -m -- /bin/sh -c 'echo kept >/root/kept && sync'
{ ctd $p-h1 here 48MiB; ctx $p-r1 there 96MiB r1-renamed; ctd $p-r2 there 48MiB; } | manifest "$work/cts.yaml"
run 2 "$kvz" --state-dir "$S" plan -f "$work/cts.yaml" --host there --detailed-exitcode &&
  has "  ~ $p-r1 (container) (restart)" && has "disk: 64MiB -> 96MiB" && has "hostname: $p-r1 -> r1-renamed" &&
  ok "plan: a remote container's disk grow and hostname are a restart"
t0=$(date +%s.%N)
run 0 "$kvz" --state-dir "$S" apply -f "$work/cts.yaml" --host there --auto-approve &&
  has "there: $p-r1: downloading rootfs image from the host" && has "there: $p-r1: rootfs image downloaded" &&
  has "there: $p-r1: growing disk" && has "there: $p-r1 (container): update done" &&
  ok "apply: the remote container's image grown and rewritten, uploaded again"
echo "# grow 64->96MiB + hostname of a running remote container: apply took $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}') s"
src_b=$(srcof $p-r1)
check "the domain is on the other slot ($src_b)" test "$src_b" = "${src_a%.img}.b.img"
check "same domain (uuid)" test "$(virsh -q -c "$KVZ_REMOTE_LXC" domuuid $p-r1)" = "$uuid1"
check "it runs" test "$(virsh -q -c "$KVZ_REMOTE_LXC" domstate $p-r1 | head -1)" = running
init=$(initof $p-r1)
check "the guest's own file is kept" test "$(nsenter -t "$init" -m cat /root/kept)" = kept
check "its hostname is the new one" test "$(nsenter -t "$init" -m cat /etc/hostname)" = r1-renamed
kb=$(stat -f -c '%b %S' "/proc/$init/root/" | awk '{print $1 * $2 / 1024}')
check "its file system has grown to 96MiB ($kb KiB)" test "$kb" -gt $((80 << 10))
check "the old slot is gone from the pool" bash -c "! virsh -q -c '$KVZ_REMOTE_LXC' vol-list '$cpool' | grep -q '$(basename "$src_a")'"
check "nothing of it left on the runner" test -z "$(ls -A "$S/tmp")"
run 0 "$kvz" --state-dir "$S" plan -f "$work/cts.yaml" --host there --detailed-exitcode &&
  has "  no changes (2 resources)" && ok "replan after the rewrite: no changes (the hostname is recorded)"
ssh-keygen -q -t ed25519 -N "" -C kvz@test -f "$work/key" && key=$(cat "$work/key.pub")
{ ctd $p-h1 here 48MiB; ctx $p-r1 there 96MiB r1-renamed "$key"; ctd $p-r2 there 48MiB; } | manifest "$work/cts.yaml"
run 0 "$kvz" --state-dir "$S" apply -f "$work/cts.yaml" --host there --auto-approve &&
  has "there: $p-r1 (container): update done" && ok "apply: ssh keys written into the remote image"
init=$(initof $p-r1)
check "the key is in the guest" test "$(nsenter -t "$init" -m cat /root/.ssh/authorized_keys)" = "$key"
check "back on the first slot, the second gone" bash -c "[[ '$(srcof $p-r1)' == '$src_a' ]] && ! virsh -q -c '$KVZ_REMOTE_LXC' vol-list '$cpool' | grep -q '$(basename "$src_b")'"
check "the file is still kept" test "$(nsenter -t "$init" -m cat /root/kept)" = kept
run 0 "$kvz" --state-dir "$S" plan -f "$work/cts.yaml" --host there --detailed-exitcode &&
  has "  no changes (2 resources)" && ok "replan after the keys: no changes"
# a rewrite that fails midway (resize2fs fails, after the stop and the download) leaves the
# domain running on its old, whole slot, and no half-made other slot
mkdir -p "$work/badbin" && ln -sf /bin/false "$work/badbin/resize2fs"
{ ctd $p-h1 here 48MiB; ctx $p-r1 there 128MiB r1-renamed "$key"; ctd $p-r2 there 48MiB; } | manifest "$work/cts.yaml"
run 1 env PATH="$work/badbin:$PATH" "$kvz" --state-dir "$S" apply -f "$work/cts.yaml" --host there --auto-approve &&
  has "there: $p-r1: downloading rootfs image from the host" && has "$p-r1 (container): update failed: " && has "there: $p-r1: starting it again on its image as it was" &&
  ok "a rewrite whose grow fails is reported"
grep -E "^error: .*resize" <<<"$out" | sed 's/^/# /'
check "... $p-r1 runs again" test "$(virsh -q -c "$KVZ_REMOTE_LXC" domstate $p-r1 | head -1)" = running
check "... on its old slot" test "$(srcof $p-r1)" = "$src_a"
cap=$(virsh -q -c "$KVZ_REMOTE_LXC" vol-info "$src_a" --bytes | awk '/^Capacity:/ {print $2}')
check "... still 96MiB ($cap)" test "$cap" = $((96 << 20))
check "... its mark still there" bash -c "virsh -q -c '$KVZ_REMOTE_LXC' vol-list '$cpool' | grep -qF '$(basename "$src_a").ok'"
check "... no half-made other slot" bash -c "! virsh -q -c '$KVZ_REMOTE_LXC' vol-list '$cpool' | grep -qF '$(basename "$src_b")'"
check "... nothing left on the runner" test -z "$(ls -A "$S/tmp")"
check "... the guest's file kept" test "$(nsenter -t "$(initof $p-r1)" -m cat /root/kept)" = kept
run 2 "$kvz" --state-dir "$S" plan -f "$work/cts.yaml" --host there --detailed-exitcode &&
  has "disk: 96MiB -> 128MiB" && ok "... and the grow is still planned"
# the hostname of a stopped one: it stays stopped; the image itself holds it (read back here)
virsh -q -c "$KVZ_REMOTE_LXC" destroy $p-r1 >/dev/null
{ ctd $p-h1 here 48MiB; ctx $p-r1 there 96MiB r1-again "$key"; ctd $p-r2 there 48MiB; } |
  sed "/^  $p-r1:/a\\    state: stopped" | manifest "$work/cts.yaml"
run 0 "$kvz" --state-dir "$S" apply -f "$work/cts.yaml" --host there --auto-approve &&
  has "there: $p-r1 (container): update done" && ok "apply: the hostname of a stopped remote container"
check "it stays stopped" test "$(virsh -q -c "$KVZ_REMOTE_LXC" domstate $p-r1 | head -1)" = "shut off"
check "on the other slot" test "$(srcof $p-r1)" = "$src_b"
virsh -q -c "$KVZ_REMOTE_LXC" vol-download "$src_b" "$work/r1.img" 2>/dev/null
check "the image holds the new hostname" test "$(debugfs -R 'cat /etc/hostname' "$work/r1.img" 2>/dev/null)" = r1-again
check "... and the guest's file" test "$(debugfs -R 'cat /root/kept' "$work/r1.img" 2>/dev/null)" = kept
rm -f "$work/r1.img"
run 0 "$kvz" --state-dir "$S" plan -f "$work/cts.yaml" --host there --detailed-exitcode &&
  has "  no changes (2 resources)" && ok "replan after it: no changes"
# a slot a rewrite killed midway would leave: destroy removes it too (the pool goes only empty)
virsh -q -c "$KVZ_REMOTE_LXC" vol-create-as "$cpool" "$(basename "$src_a")" 1M >/dev/null
run 0 "$kvz" --state-dir "$S" destroy -f "$work/cts.yaml" --host here --host there --auto-approve &&
  has "there: $p-r1 (container): delete done" && has "here: $p-h1 (container): delete done" &&
  ok "destroy on both hosts"
check "nothing of them on 'there'" test -z "$(virsh -q -c "$KVZ_REMOTE_LXC" list --all --name | grep "^$p-[hr]")"
check "nor here" test -z "$(virsh -q -c lxc:///system list --all --name | grep "^$p-")"
check "the pool of 'there' is gone" test -z "$(virsh -q -c "$KVZ_REMOTE_LXC" pool-list --all --name | grep '^kvz-' | grep -v '^kvz-locks')"
check "nothing of them in the state dir" test -z "$(find "$S/containers" -mindepth 2 -print -quit 2>/dev/null)"

# --- the lock held on 'there': a second runner (its own state dir) fails at once naming the
# holder; a lock whose holder crashed elsewhere is removed with kvz unlock; one whose holder
# ran here and is gone is stale and taken over
{ ctd $p-l1 there 48MiB; } | manifest "$work/lock.yaml"
fifo=$work/answer; mkfifo "$fifo"
# runner A waits at its question (a terminal from script(1)), holding the lock
script -qfec "$kvz --state-dir $S apply -f $work/lock.yaml" /dev/null <"$fifo" >"$work/a.out" 2>&1 &
apid=$!
exec 9>"$fifo"
# under ASan and a loaded machine runner A may need long to get there: the second runner starts
# only once A asks (it holds the lock from before its plan), never on a timer
for _ in $(seq 1 1200); do grep -q "Only 'yes' is accepted" "$work/a.out" 2>/dev/null && break; sleep 0.1; done
check "runner A holds the lock and asks" grep -q "Only 'yes' is accepted" "$work/a.out" || sed "s/^/    A: /" "$work/a.out"
run 1 "$kvz" --state-dir "$work/state-b" apply -f "$work/lock.yaml" --auto-approve &&
  has "host 'there' is locked by root@$(hostname) (pid " && has "for stack '$p-s'" &&
  has "run 'kvz unlock --host there'" && lacks "create done" &&
  ok "a second runner with its own state dir fails at once, naming the holder"
(echo no >&9) 2>/dev/null; exec 9>&-; wait $apid # a subshell: runner A may be gone (SIGPIPE)
check "runner A was cancelled and released the lock" test -z "$(virsh -q -c "$KVZ_REMOTE_LXC" vol-list kvz-locks 2>/dev/null | grep host.lock)"
lockvol() { # lockvol JSON: a lock another runner left on 'there'
  printf '%s' "$1" >"$work/rec"
  virsh -q -c "$KVZ_REMOTE_LXC" vol-create-as kvz-locks host.lock "$(stat -c %s "$work/rec")" >/dev/null &&
    virsh -q -c "$KVZ_REMOTE_LXC" vol-upload --pool kvz-locks host.lock "$work/rec"
}
lockvol '{"pid": 4242, "since": "2026-01-01T00:00:00Z", "stack": "other", "state_dir": "/x", "where": "ci-runner-7", "who": "ci"}'
run 1 "$kvz" --state-dir "$work/state-b" apply -f "$work/lock.yaml" --auto-approve &&
  has "host 'there' is locked by ci@ci-runner-7 (pid 4242) since 2026-01-01T00:00:00Z for stack 'other'" &&
  ok "a lock from another machine is never taken over"
run 0 "$kvz" --state-dir "$work/state-b" unlock --host there -f "$work/lock.yaml" &&
  has "Removed the lock of host 'there', held by ci@ci-runner-7" && ok "kvz unlock --host there"
sleep 0 & deadpid=$!; wait $deadpid
lockvol "{\"pid\": $deadpid, \"since\": \"2026-01-01T00:00:00Z\", \"stack\": \"$p-s\", \"state_dir\": \"$S\", \"where\": \"$(hostname)\", \"who\": \"root\"}"
run 0 "$kvz" --state-dir "$S" apply -f "$work/lock.yaml" --auto-approve &&
  has "there: $p-l1 (container): create done" && ok "a stale lock (its holder ran here and is gone) is taken over"
check "the lock is released after the apply" test -z "$(virsh -q -c "$KVZ_REMOTE_LXC" vol-list kvz-locks | grep host.lock)"
run 0 "$kvz" --state-dir "$S" destroy -f "$work/lock.yaml" --auto-approve && ok "destroyed $p-l1"

# --- vms on the remote host, storage through libvirt only: the image is uploaded (sparse) once
# for two guests into the host's kvz pool; overlays and seeds are volumes there; nothing of
# them on the runner
img=$work/disk.raw
truncate -s 64M "$img"
head -c 1M /dev/urandom | dd of="$img" conv=notrunc status=none
head -c 1M /dev/urandom | dd of="$img" bs=1M seek=40 conv=notrunc status=none
isha=$(sha256sum "$img" | cut -d' ' -f1)
vmyaml() { # vmyaml NAME
  printf '  %s:\n    host: there\n    image: disk\n    memory: 128MiB\n    network: none\n' "$1"
}
{ printf 'kvz: 1\nstack: %s\nhosts:\n%s\ntemplates:\n  disk:\n    url: file://%s\n    sha256: %s\nvms:\n' \
    "$p-v" "$hosts" "$img" "$isha"; vmyaml $p-v1; vmyaml $p-v2; } >"$work/vms.yaml"
export KVZ_VM_STOP_TIMEOUT=2
run 0 "$kvz" --state-dir "$S" apply -f "$work/vms.yaml" --host there --auto-approve &&
  has "there: $p-v1 (vm): create done" && has "there: $p-v2 (vm): create done" &&
  ok "two vms applied on 'there' over qemu+ssh://"
check "the image was uploaded once" test "$(grep -c 'uploading base image to the host' <<<"$out")" = 1
check "the second vm found it whole" test "$(grep -c 'base image already on the host: nothing to upload' <<<"$out")" = 1
has "base image uploaded (2 MiB of data, holes skipped)" && ok "the upload sent the data, not the holes"
pool=$(virsh -q -c "$KVZ_REMOTE_QEMU" pool-list --all --name | awk '/^kvz-/ {print $1}' | head -1)
vols=$(virsh -q -c "$KVZ_REMOTE_QEMU" vol-list "$pool" 2>/dev/null | awk '{print $1}' | LC_ALL=C sort | tr '\n' ' ')
check "the host's pool holds the base, its mark, two overlays and two seeds ($vols)" test "$vols" = \
  "base-$isha.raw base-$isha.raw.ok $p-v1-seed.iso $p-v1.qcow2 $p-v2-seed.iso $p-v2.qcow2 "
ppath=$(virsh -q -c "$KVZ_REMOTE_QEMU" pool-dumpxml "$pool" | sed -n 's:.*<path>\(.*\)</path>.*:\1:p')
check "each overlay is backed by the base" bash -c "virsh -q -c '$KVZ_REMOTE_QEMU' vol-dumpxml --pool $pool $p-v1.qcow2 | grep -q '<path>$ppath/base-$isha.raw</path>'"
virsh -q -c "$KVZ_REMOTE_QEMU" vol-download --pool "$pool" "base-$isha.raw" "$work/back.raw" 2>/dev/null
check "the base on the host holds the image's bytes" test "$(sha256sum <"$work/back.raw" | cut -d' ' -f1)" = "$isha"
rm -f "$work/back.raw"
alloc=$(nsenter -t "$KVZ_REMOTE_PID" -m du -k "$ppath/base-$isha.raw" | cut -f1)
check "the base is sparse on the host (${alloc} KiB allocated of 65536)" test "$alloc" -lt 8192
check "the vms run there" test "$(virsh -q -c "$KVZ_REMOTE_QEMU" list --name | grep -c "^$p-v")" = 2
check "no pool dir on the runner" test ! -e "$S/pool" -a ! -e "$ppath"
check "no vm file of them on the runner" test -z "$(find "$S" -name "$p-v*" -print -quit)"
check "the runner's libvirtd has neither vm" bash -c "! virsh -q -c qemu:///system dominfo $p-v1 >/dev/null 2>&1"
run 0 "$kvz" --state-dir "$S" plan -f "$work/vms.yaml" --host there --detailed-exitcode &&
  has "  no changes (2 resources)" && ok "replan of the remote vms: no changes"
run 1 "$kvz" --no-color --state-dir "$S" doctor -f "$work/vms.yaml" --host there --host dead &&
  has "Host there:" && has "ok   libvirt: containers '$KVZ_REMOTE_LXC': libvirt 9.0.0, driver LXC" &&
  has "ok   libvirt: vms '$KVZ_REMOTE_QEMU': libvirt 9.0.0, driver QEMU" &&
  has "warn kvm: no KVM there: vms run under TCG emulation" && has "ok   pool: pool '$pool': " &&
  has "Host dead:" && has "FAIL reachable: containers '$dead': " &&
  ok "doctor --host: 'there' reachable over ssh with its libvirt, drivers, no KVM, pool space; 'dead' fails"
run 0 "$kvz" --state-dir "$S" destroy -f "$work/vms.yaml" --host there --auto-approve &&
  has "there: $p-v1 (vm): delete done" && ok "destroy the remote vms"
check "nothing of them is left on 'there'" test -z "$(virsh -q -c "$KVZ_REMOTE_QEMU" list --all --name | grep "^$p-v")"
check "their pool is gone from 'there'" test -z "$(virsh -q -c "$KVZ_REMOTE_QEMU" pool-list --all --name | grep '^kvz-' | grep -v '^kvz-locks')"
check "its directory too" bash -c "! nsenter -t $KVZ_REMOTE_PID -m test -e '$ppath'"
finish
