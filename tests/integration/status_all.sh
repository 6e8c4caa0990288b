#!/usr/bin/env bash
# kvz status --all across two stacks without a manifest (issue 14), and the status table and
# JSON of one stack (issue 8 item 15): each column starts where its header does however long a
# drift reason is, and `cpus` is an integer in JSON when whole, as in plan --json.
# Domains are named kvzt14-<pid>-*, in their own stacks and state dir; all removed at exit.
set -uo pipefail
kvz=${KVZ_BINARY:?KVZ_BINARY must name the kvz binary}
src=${KVZ_SOURCE_DIR:?}
uri=lxc:///system
p=kvzt14-$$
work=$(mktemp -d /tmp/$p-XXXXXX)
export KVZ_STATE_DIR=$work/state NO_COLOR=1
fails=0
. "$(dirname "$0")/shlib.sh"
trap 'remove_domains $uri $p-; rm -rf "$work"' EXIT
"$src/tests/integration/busybox-template" "$work/tpl" || { echo "cannot build the template"; exit 1; }
manifest() { # manifest STACK NAME CPUS
  cat >"$work/$1.yaml" <<YAML
kvz: 1
stack: $p-$1
connection:
  containers: $uri
templates:
  bb:
    url: file://$work/tpl/busybox-rootfs.tar.gz
containers:
  $p-$2:
    template: bb
    memory: 64MiB
    cpus: $3
    network: none
YAML
}
manifest one a 1
manifest two b 0.5
run 0 "$kvz" apply -f "$work/one.yaml" --auto-approve && run 0 "$kvz" apply -f "$work/two.yaml" --auto-approve && ok "two stacks applied"

run 0 "$kvz" status --all && has "STACK" && ok "status --all needs no manifest"
check "--all shows stack one's guest" grep -qE "^$p-one +$p-a +container +running +64MiB +1 " <<<"$out"
check "--all shows stack two's guest" grep -qE "^$p-two +$p-b +container +running +64MiB +0.5 " <<<"$out"
run 0 "$kvz" status --all --json && ok "status --all --json"
check "--json: each with its stack, cpus an integer when whole" python3 -c '
import json, sys
rows = {r["name"]: r for r in json.loads(sys.argv[1])["resources"]}
a, b = rows[sys.argv[2] + "-a"], rows[sys.argv[2] + "-b"]
assert a["stack"] == sys.argv[2] + "-one" and b["stack"] == sys.argv[2] + "-two", (a, b)
assert type(a["cpus"]) is int and a["cpus"] == 1 and b["cpus"] == 0.5, (a["cpus"], b["cpus"])
assert a["state"] == "running" and a["memory"] == 64 << 20
' "$out" "$p"
run 1 "$kvz" status --all -f "$work/one.yaml" && has "--all reads no manifest" && ok "--all with -f refused"

# --all --host: the hosts of a manifest's hosts: ("local" is this libvirtd, "dead" answers nothing)
cat >"$work/hosts.yaml" <<YAML
kvz: 1
stack: $p-hosts
hosts:
  local:
    containers: $uri
  dead:
    containers: lxc+ssh://root@127.0.0.1:1/system?no_verify=1
YAML
run 0 "$kvz" status --all --host local -f "$work/hosts.yaml" && has "Host local:" && lacks "Host dead:" &&
  ok "--all --host local: a table for that host"
check "--all --host shows both stacks' guests" bash -c "grep -qE '^$p-one +$p-a +container +running ' <<<\"\$1\" && grep -qE '^$p-two +$p-b ' <<<\"\$1\"" _ "$out"
run 1 "$kvz" status --all --host local --host dead -f "$work/hosts.yaml" --json &&
  ok "--all --host with a dead host: exit 1"
check "--json: rows name their host and stack, the dead host its reason" python3 -c '
import json, sys
j = json.loads(sys.argv[1])
rows = {r["name"]: r for r in j["resources"]}
a = rows[sys.argv[2] + "-a"]
assert a["host"] == "local" and a["stack"] == sys.argv[2] + "-one", a
assert "cannot connect" in j["failed_hosts"]["dead"], j["failed_hosts"]
' "$(grep '^{' <<<"$out")" "$p"
run 1 "$kvz" status --all --host nowhere -f "$work/hosts.yaml" && has "--host 'nowhere' is not a host" &&
  ok "--all --host of an unknown host is refused"

# one stack: JSON cpus as plan prints it; columns aligned under a long drift reason
run 0 "$kvz" status -f "$work/one.yaml" --json &&
  check "status --json: cpus 1, not 1.0" grep -q '"cpus": 1,' <<<"$out"
sleep 1
"$src/tests/integration/busybox-template" "$work/tpl" # other bytes: a replace, a long reason
run 0 "$kvz" status -f "$work/one.yaml" && has "replace: template changed" && ok "status shows the drift"
check "every column starts under its header" python3 -c '
import sys
lines = [l for l in sys.argv[1].splitlines() if l.strip()]
head = lines[0]
cols = [head.index(h) for h in ("KIND", "STATE", "APPLIED", "DRIFT", "SOURCE")]
for l in lines[1:]:
    if l.startswith(("NETWORK", "GUEST")):  # the next tables
        break
    for c in cols:
        assert l[c - 2:c] == "  " and l[c] != " ", (l, c)
' "$out"
run 0 "$kvz" destroy -f "$work/one.yaml" --auto-approve && run 0 "$kvz" destroy -f "$work/two.yaml" --auto-approve
run 0 "$kvz" status --all && lacks "$p-" && ok "--all after both destroys: none of them"
finish
