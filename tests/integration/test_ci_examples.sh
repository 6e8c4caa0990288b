#!/usr/bin/env bash
# examples/ci's pipelines (issue 12), their shell steps run by ci_examples.py as GitHub Actions
# and GitLab CI would, on a copy of examples/ci made a git repository, with gh and curl stubs
# that keep the comment they were asked to post; the real libvirtd (LXC, busybox template).
set -uo pipefail
kvz=${KVZ_BINARY:?KVZ_BINARY must name the kvz binary}
src_dir=${KVZ_SOURCE_DIR:?}
uri=lxc:///system
p=kvzt12c-$$
work=$(mktemp -d /tmp/$p-XXXXXX)
export KVZ_STATE_DIR=$work/state NO_COLOR=1 GIT_CONFIG_NOSYSTEM=1
fails=0
. "$(dirname "$0")/shlib.sh"
cleanup() {
  remove_domains $uri "$p-"
  rm -rf "$work"
}
trap cleanup EXIT
ci=$src_dir/tests/integration/ci_examples.py

"$src_dir/tests/integration/busybox-template" "$work/tpl" || { echo "cannot build the template"; exit 1; }
sha=$(cut -d' ' -f1 "$work/tpl/SHA256SUMS")
repo=$work/repo
cp -a "$src_dir/examples/ci" "$repo"
# the example's manifest, with the local template and names of this test
set_manifest() { # set_manifest MEMORY
  {
    printf 'kvz: 1\nstack: %s\nconnection:\n  containers: %s\n' "$p" "$uri"
    printf 'templates:\n  debian12:\n    url: file://%s/tpl/busybox-rootfs.tar.gz\n    sha256: %s\n' "$work" "$sha"
    sed -n '/^containers:/,$p' "$src_dir/examples/ci/kvz.yaml" | sed "s/^  web1:/  $p-web1:/; s/memory: .*/memory: $1/; /^    cpus:/d"
    printf '    network: none\n'
  } >"$repo/kvz.yaml"
}
g() { git -C "$repo" -c user.name=kvz-test -c user.email=test@example.org "$@"; }
git init -q -b main "$repo"
set_manifest 64MiB
g add -A && g commit -q -m "the example"

# stubs: what the pipelines would post
mkdir -p "$work/bin"
cat >"$work/bin/gh" <<STUB
#!/bin/sh
echo "gh \$*" >>"$work/posted"
while [ \$# -gt 0 ]; do [ "\$1" = --body-file ] && cat "\$2" >>"$work/posted"; shift; done
STUB
cat >"$work/bin/curl" <<STUB
#!/bin/sh
echo "curl \$*" >>"$work/posted"
for a; do case \$a in body@*) cat "\${a#body@}" >>"$work/posted";; esac; done
STUB
chmod +x "$work/bin/gh" "$work/bin/curl"
export PATH="$work/bin:$(dirname "$(realpath "$kvz")"):$PATH"
mem() { virsh -q -c $uri dommemstat "$p-web1" 2>/dev/null | awk '$1=="actual"{print $2}'; }

# --- GitHub Actions: a pull request gets the plan as a comment; a push applies it
wf=$repo/.github/workflows/kvz.yml
run 0 "$ci" github "$wf" pull_request "$repo" "$(g rev-parse HEAD)" && has "--- plan: plan" && has "--- plan: comment"
out=$(cat "$work/posted")
has "gh pr comment 7 --body-file plan.md" && has "### kvz plan: stack \`$p\`" && has "| local | container | \`$p-web1\` | create |" &&
  has "commit $(g rev-parse HEAD)"
check "the plan job changed nothing" test -z "$(virsh -q -c $uri list --all --name | grep "^$p-")"
run 0 "$ci" github "$wf" push "$repo" "$(g rev-parse HEAD)" && has "Apply complete"
check "the push applied the commit" test "$(mem)" = 65536
check "its provenance is the commit" grep -qF "@$(g rev-parse HEAD):kvz.yaml" <(virsh -c $uri dumpxml "$p-web1")

# --- GitLab CI: a merge request gets the plan as a note; a push applies it
set_manifest 96MiB
g commit -q -am "more memory"
rm -f "$work/posted"
pl=$repo/.gitlab-ci.yml
run 0 "$ci" gitlab "$pl" merge_request_event "$repo" "$(g rev-parse HEAD)" && has "--- plan:"
out=$(cat "$work/posted")
has "merge_requests/7/notes" && has "| local | container | \`$p-web1\` | update | none: changed live |" && has "| memory | 64MiB | 96MiB |"
check "the plan job changed nothing" test "$(mem)" = 65536
run 0 "$ci" gitlab "$pl" push "$repo" "$(g rev-parse HEAD)" && has "Apply complete"
check "the push applied the commit" test "$(mem)" = 98304

# --- a push beyond the pipelines' --max-disruption (restart): refused, exit 3, nothing changed
g rm -q kvz.yaml && printf 'kvz: 1\nstack: %s\nconnection:\n  containers: %s\n' "$p" "$uri" >"$repo/kvz.yaml" && g add kvz.yaml && g commit -q -m "delete everything"
run 3 "$ci" github "$wf" push "$repo" "$(g rev-parse HEAD)" && has "beyond --max-disruption restart"
check "the guest is still there" test -n "$(virsh -q -c $uri domid "$p-web1" 2>/dev/null)"
finish
