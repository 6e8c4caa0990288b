#!/usr/bin/env bash
# What apply and destroy print at each verbosity (issue 8 item 15), on the real libvirtd (LXC):
# -q only the summary and errors, the default each step once, -v each step with its time.
# Domains are named kvzt15-<pid>-*, in their own stack and state dir; all removed at exit.
set -uo pipefail
kvz=${KVZ_BINARY:?KVZ_BINARY must name the kvz binary}
src=${KVZ_SOURCE_DIR:?}
uri=lxc:///system
p=kvzt15-$$
work=$(mktemp -d /tmp/$p-XXXXXX)
export KVZ_STATE_DIR=$work/state NO_COLOR=1
fails=0
. "$(dirname "$0")/shlib.sh"
trap 'remove_domains $uri $p-; rm -rf "$work"' EXIT

"$src/tests/integration/busybox-template" "$work/tpl" || { echo "cannot build the template"; exit 1; }
sha=$(cut -d' ' -f1 "$work/tpl/SHA256SUMS")
m=$work/kvz.yaml
manifest() { # manifest MEMORY [HOSTNAME]
  cat >"$m" <<YAML
kvz: 1
stack: $p
connection:
  containers: $uri
templates:
  bb:
    url: file://$work/tpl/busybox-rootfs.tar.gz
    sha256: $sha
containers:
  $p-a:
    template: bb
    memory: $1
    network: none
${2:+    hostname: $2}
YAML
}

# -q: the summary line and nothing else (no plan, no steps)
manifest 64MiB
run 0 "$kvz" -q apply -f "$m" --auto-approve &&
  check "-q apply prints only the summary" test "$(grep -c . <<<"$out")" = 1 && has "Apply complete: 1 change done"
lacks "Plan:"

# the default: every step once
manifest 96MiB
run 0 "$kvz" -q plan -f "$m" && check "-q plan prints only the plan's summary" test "$(grep -c . <<<"$out")" = 1 &&
  has "Plan: 0 to create, 1 to update (1 live, 0 restart)"
manifest 96MiB h2
run 0 "$kvz" apply -f "$m" --auto-approve && has "(restart)" && has "$p-a (container): update done"
check "stopping reported once" test "$(grep -c "$p-a: stopping" <<<"$out")" = 1
check "starting reported once" test "$(grep -c "$p-a: starting" <<<"$out")" = 1
lacks " took "

# -v: each libvirt step with the time it took
manifest 128MiB h2
run 0 "$kvz" -v apply -f "$m" --auto-approve && has "(live)" &&
  check "-v times the live memory step" grep -qE "$p-a: setting memory live took [0-9]+\.[0-9]{3}s" <<<"$out"
check "the memory limit is live in the cgroup" test "$(ct_memory_limit $uri $p-a)" = $((128 << 20))

# -q destroy, and an error still shown under -q
run 0 "$kvz" -q destroy -f "$m" --auto-approve &&
  check "-q destroy prints only the summary" test "$(grep -c . <<<"$out")" = 1 && has "Destroy complete: 1 change done"
printf 'kvz: 1\nstack: %s\ncontainers:\n  x:\n    memroy: 1\n' "$p" >"$work/bad.yaml"
run 1 "$kvz" -q plan -f "$work/bad.yaml" && has "error: unknown key 'memroy'" && ok "-q still prints errors"
finish
