#!/usr/bin/env bash
# kvz-lxc-hook on its own (issue 15), as libvirtd runs it, in a private mount namespace of this
# test: prepare mounts the overlay of kvz's layers on the root filesystem's source, release
# unmounts it, a missing lower fails with the message libvirt shows, a domain without kvz's
# layers (or another operation) is left alone, and a stale mount is made again.
set -uo pipefail
hook=${KVZ_LXC_HOOK:?KVZ_LXC_HOOK must name kvz-lxc-hook}
w=$(mktemp -d /tmp/kvzt15-hook-XXXXXX)
fails=0
. "$(dirname "$0")/shlib.sh"
trap 'rm -rf "$w"' EXIT
mkdir -p "$w"/{lower/etc,upper,work,rootfs}
echo template >"$w/lower/etc/t"
xml() { # xml LOWER: a domain the way libvirt formats it, kvz's layers in its metadata
  cat <<X
<domain type='lxc'><name>kvzt15-h</name><metadata><other:x xmlns:other='https://example.org/o'/>
<kvz:resource xmlns:kvz="https://kvz.dev/xmlns/domain/1"><kvz:stack>s</kvz:stack><kvz:kind>container</kvz:kind>
<kvz:layer-lower>$1</kvz:layer-lower><kvz:layer-upper>$w/upper</kvz:layer-upper><kvz:layer-work>$w/work</kvz:layer-work>
</kvz:resource></metadata><devices><filesystem type='mount' accessmode='passthrough'><source dir='$w/rootfs'/><target dir='/'/></filesystem></devices></domain>
X
}
xml "$w/lower" >"$w/ok.xml"
xml "$w/gone" >"$w/missing.xml"
echo '<domain type="lxc"><name>x</name><devices><filesystem type="mount"><source dir="/"/><target dir="/"/></filesystem></devices></domain>' >"$w/other.xml"
# all of it in one private mount namespace: nothing is mounted in the test's own
out=$(unshare -m --propagation private bash -s "$hook" "$w" <<'IN' 2>&1
hook=$1 w=$2
m() { grep -c " $w/rootfs " /proc/self/mountinfo; }
"$hook" kvzt15-h prepare begin - <"$w/ok.xml" && echo "prepare: exit 0"
grep -q " $w/rootfs .* overlay " /proc/self/mountinfo && echo "prepare: overlay mounted"
[[ $(cat "$w/rootfs/etc/t" 2>/dev/null) == template ]] && echo "prepare: the template is seen"
echo mine >"$w/rootfs/etc/own" && [[ -f $w/upper/etc/own && ! -e $w/lower/etc/own ]] && echo "prepare: writes go to the own layer"
"$hook" kvzt15-h prepare begin - <"$w/ok.xml" && [[ $(m) == 1 ]] && echo "prepare again: one mount"
"$hook" kvzt15-h start begin - <"$w/ok.xml" && [[ $(m) == 1 ]] && echo "start: left alone"
"$hook" kvzt15-h release end - <"$w/ok.xml" && [[ $(m) == 0 ]] && echo "release: unmounted"
"$hook" kvzt15-h release end - <"$w/ok.xml" && echo "release again: exit 0"
"$hook" kvzt15-h prepare begin - <"$w/missing.xml"
echo "missing lower: exit $?"
[[ $(m) == 0 ]] && echo "missing lower: nothing mounted"
"$hook" x prepare begin - <"$w/other.xml" && ! grep -q " / .* overlay " /proc/self/mountinfo && echo "another domain: exit 0, nothing mounted"
"$hook" --version
IN
)
printf '%s\n' "$out" | sed 's/^/# /'
for want in "prepare: exit 0" "prepare: overlay mounted" "prepare: the template is seen" \
  "prepare: writes go to the own layer" "prepare again: one mount" "start: left alone" \
  "release: unmounted" "release again: exit 0" "missing lower: exit 1" "missing lower: nothing mounted" \
  "kvz: container 'kvzt15-h': its template layer '$w/gone' is missing (pruned or deleted); run kvz apply to make the container again" \
  "another domain: exit 0, nothing mounted" "kvz-lxc-hook protocol 1"; do
  check "$want" grep -qxF -- "$want" <<<"$out"
done
check "nothing stayed mounted in the test's namespace" bash -c "! grep -q ' $w/' /proc/self/mountinfo"
finish
