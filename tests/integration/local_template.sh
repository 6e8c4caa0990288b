#!/usr/bin/env bash
# A local template file without a checksum that is made again with other bytes (as the
# quickstart does on each run): the plan replaces the container from the new bytes and the
# next plan has nothing to do. (kvz used to pull the cached old bytes for the same URL while
# the plan read the new file: "template changed" on every plan, never converging.)
# Domains are named kvzt14-<pid>-*, in their own stack and state dir; all removed at exit.
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
m=$work/kvz.yaml
cat >"$m" <<YAML
kvz: 1
stack: $p
connection:
  containers: $uri
templates:
  bb:
    url: file://$work/tpl/busybox-rootfs.tar.gz
containers:
  $p-a:
    template: bb
    memory: 64MiB
    network: none
YAML
"$src/tests/integration/busybox-template" "$work/tpl" || { echo "cannot build the template"; exit 1; }
run 0 "$kvz" apply -f "$m" --auto-approve && ok "created from the local file"
run 0 "$kvz" plan -f "$m" --detailed-exitcode && ok "nothing to do after it"
sleep 1 # other mtimes, other bytes
"$src/tests/integration/busybox-template" "$work/tpl"
run 2 "$kvz" plan -f "$m" --detailed-exitcode && has "template changed" && ok "the new bytes are planned as a replace"
run 0 "$kvz" apply -f "$m" --auto-approve && has "replace done" && ok "replaced"
run 0 "$kvz" plan -f "$m" --detailed-exitcode && ok "and then nothing to do: the new bytes were used"
finish
