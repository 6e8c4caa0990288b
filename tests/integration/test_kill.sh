#!/usr/bin/env bash
# A kill at any moment of an apply leaves a host that the next apply brings to the desired
# state, with every guest on the complete content of its template (issue 17): for each
# storage kind (a container's rootfs directory, a container's ext4 image, a vm's overlay and
# seed), ROUNDS rounds of: apply in the background, SIGKILL at a random moment, one apply,
# then check a file the template holds in every guest's storage. Every domain is named
# kvzt-<pid>-*; all removed at exit.
set -uo pipefail
kvz=${KVZ_BINARY:?KVZ_BINARY must name the kvz binary}
src=${KVZ_SOURCE_DIR:?}
rounds=${KVZ_KILL_ROUNDS:-20}
p=kvzt-$$
work=$(mktemp -d /tmp/$p-kill-XXXXXX)
chmod 755 "$work"
export NO_COLOR=1 KVZ_VM_STOP_TIMEOUT=2
fails=0
. "$(dirname "$0")/shlib.sh"
cleanup() {
  [[ -n ${bg:-} ]] && kill -KILL "$bg" 2>/dev/null
  remove_domains lxc:///system "$p-"
  remove_domains qemu:///system "$p-"
  remove_pools qemu:///system "$work"
  [[ -n ${KVZ_TEST_KEEP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

# a 25 MB template whose last member is a marker: a copy cut short lacks it
root=$work/root
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,var,usr/share}
cp "$(command -v busybox)" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
ln -s busybox "$root/bin/sleep"
printf '#!/bin/sh\ntrap "exit 0" TERM\nwhile :; do sleep 3600 & wait $!; done\n' >"$root/sbin/init"
chmod 755 "$root/sbin/init"
head -c 25M /dev/urandom >"$root/usr/share/blob"
echo "complete $$" >"$root/zzz-marker"
(cd "$root" && find . -path ./zzz-marker -prune -o -print | sed 1d; echo ./zzz-marker) >"$work/order"
tar --numeric-owner --no-recursion -C "$root" -cf "$work/t.tar" -T "$work/order"
tsha=$(sha256sum "$work/t.tar" | cut -d' ' -f1)
# a disk image whose last block holds the marker
qemu-img create -q -f raw "$work/d.raw" 24M
head -c 20M /dev/urandom | dd of="$work/d.raw" conv=notrunc status=none
printf 'complete %s' $$ | dd of="$work/d.raw" bs=1 seek=$((24 * 1024 * 1024 - 64)) conv=notrunc status=none
qemu-img convert -q -O qcow2 "$work/d.raw" "$work/d.qcow2"
dsha=$(sha256sum "$work/d.qcow2" | cut -d' ' -f1)

manifest() { # manifest KIND FILE
  {
    printf 'kvz: 1\nstack: %s-%s\ntemplates:\n' "$p" "$1"
    printf '  t:\n    url: file://%s/t.tar\n    sha256: %s\n' "$work" "$tsha"
    printf '  d:\n    url: file://%s/d.qcow2\n    sha256: %s\n' "$work" "$dsha"
    case $1 in
    dir | img)
      printf 'containers:\n'
      for i in 1 2 3; do
        printf '  %s-%s%d:\n    template: t\n    memory: 64MiB\n    network: none\n' "$p" "$1" "$i"
        [[ $1 == img ]] && printf '    disk: 64MiB\n'
      done
      ;;
    vm)
      printf 'vms:\n'
      for i in 1 2; do
        printf '  %s-vm%d:\n    image: d\n    memory: 128MiB\n    disk: 32MiB\n    network: none\n' "$p" "$i"
        printf '    cloud_init:\n      user_data: |\n        #cloud-config\n        hostname: k%d\n' "$i"
      done
      ;;
    esac
  } >"$2"
}

# complete KIND STATE: every guest runs on the whole content of its template
complete() {
  local kind=$1 st=$2 i name dir
  case $kind in
  dir | img)
    for i in 1 2 3; do
      name=$p-$kind$i
      [[ $(virsh -q -c lxc:///system domstate "$name" 2>/dev/null | head -1) == running ]] || { echo "$name not running"; return 1; }
      dir=$st/containers/$p-$kind/$name
      if [[ $kind == dir ]]; then
        # the rootfs as the guest has it: on shared layers the overlay is mounted in libvirtd's
        # namespace only
        lvns=(nsenter -t "$(cat /run/libvirtd.pid)" -m --)
        "${lvns[@]}" grep -qx "complete $$" "$dir/rootfs/zzz-marker" 2>/dev/null || { echo "$name: marker missing"; return 1; }
        [[ $("${lvns[@]}" stat -c %s "$dir/rootfs/usr/share/blob") == $((25 << 20)) ]] || { echo "$name: blob cut"; return 1; }
      else
        debugfs -R 'cat /zzz-marker' "$dir/disk.img" 2>/dev/null | grep -qx "complete $$" || { echo "$name: marker missing in the image"; return 1; }
      fi
    done
    ;;
  vm)
    for i in 1 2; do
      name=$p-vm$i
      [[ $(virsh -q -c qemu:///system domstate "$name" 2>/dev/null | head -1) == running ]] || { echo "$name not running"; return 1; }
      qemu-img compare -q -U "$st/pool/$name.qcow2" "$work/d.qcow2" 2>/dev/null || { echo "$name: overlay differs from its image"; return 1; }
      grep -aq "hostname: k$i" "$st/pool/$name-seed.iso" 2>/dev/null || { echo "$name: seed incomplete"; return 1; }
    done
    ;;
  esac
}

for kind in ${KVZ_KILL_KINDS:-dir img vm}; do
  st=$work/state-$kind
  m=$work/$kind.yaml
  manifest $kind "$m"
  # how long a whole apply takes here: kills land anywhere in it (the cache is emptied now and
  # then, so pulls are cut too)
  t0=$(date +%s%N)
  run 0 "$kvz" --state-dir "$st" apply -f "$m" --auto-approve || continue
  span=$((($(date +%s%N) - t0) / 1000000))
  bad_rounds=0
  for r in $(seq 1 "$rounds"); do
    "$kvz" -q --state-dir "$st" destroy -f "$m" --auto-approve --force >/dev/null 2>&1
    ((r % 5 == 0)) && rm -rf "$st/cache"
    "$kvz" -q --state-dir "$st" apply -f "$m" --auto-approve >"$work/bg.log" 2>&1 &
    bg=$!
    sleep "$(printf '0.%03d' $((RANDOM % (span < 999 ? span + 1 : 1000))))"
    kill -KILL $bg 2>/dev/null
    wait $bg 2>/dev/null
    bg=
    if ! run 0 "$kvz" --state-dir "$st" apply -f "$m" --auto-approve; then
      bad_rounds=$((bad_rounds + 1))
      continue
    fi
    why=$(complete $kind "$st") || { bad "round $r ($kind): $why"; bad_rounds=$((bad_rounds + 1)); }
  done
  check "$kind: $rounds kills, every following apply converged on complete storage" test $bad_rounds = 0
  # and killed right after the template's download completed (the store's verified object, or
  # the partial download it left, must be whole for the next apply)
  bad_rounds=0 after=5
  for r in $(seq 1 $after); do
    "$kvz" -q --state-dir "$st" destroy -f "$m" --auto-approve --force >/dev/null 2>&1
    rm -rf "$st/cache"
    "$kvz" --state-dir "$st" apply -f "$m" --auto-approve >"$work/bg.log" 2>&1 &
    bg=$!
    for _ in $(seq 1 2000); do grep -q "^[td]: stored" "$work/bg.log" && break; sleep 0.005; done
    kill -KILL $bg 2>/dev/null
    wait $bg 2>/dev/null
    bg=
    run 0 "$kvz" --state-dir "$st" apply -f "$m" --auto-approve || { bad_rounds=$((bad_rounds + 1)); continue; }
    why=$(complete $kind "$st") || { bad "after-download round $r ($kind): $why"; bad_rounds=$((bad_rounds + 1)); }
  done
  check "$kind: killed right after the download $after times, every following apply converged" test $bad_rounds = 0
  "$kvz" -q --state-dir "$st" destroy -f "$m" --auto-approve --force >/dev/null 2>&1
done
finish
