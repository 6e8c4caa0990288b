#!/usr/bin/env bash
# Shell completion (dist/completion/): the bash script registers itself (`complete -p kvz`) and,
# called as bash calls it (COMP_WORDS, COMP_CWORD), offers commands, options, option values,
# the resource names of the manifest given with -f, and file names where kvz offers none.
set -uo pipefail
kvz=${KVZ_BINARY:?}
src=${KVZ_SOURCE_DIR:?}
fails=0
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
ln -s "$(realpath "$kvz")" "$bin/kvz"
PATH=$bin:$PATH
cd "$src"
# shellcheck source=/dev/null
. dist/completion/kvz.bash
[[ $(complete -p kvz) == "complete -F _kvz kvz" ]] || { echo "FAIL - complete -p kvz: $(complete -p kvz 2>&1)"; fails=$((fails + 1)); }
expect() { # expect "CANDIDATES" WORDS... (the last word is the one being completed)
  local want=$1; shift
  COMP_WORDS=(kvz "$@"); COMP_CWORD=$#
  COMPREPLY=()
  _kvz
  local got="${COMPREPLY[*]}"
  if [[ $got == "$want" ]]; then echo "ok - kvz $* -> $want"; else
    echo "FAIL - kvz $*: got '$got', want '$want'"; fails=$((fails + 1)); fi
}
expect "plan" pl
expect "destroy doctor" d
expect "--max-disruption" apply --max
expect "restart" apply --max-disruption r
expect "hello hello-vm" apply -f examples/quickstart --target hel
expect "qs-lan" --state-dir /tmp plan --file examples/quickstart/more-memory --target q
expect "pull prune" templates p
expect "hello-vm" import -f examples/quickstart hello-
expect "" import -f examples/quickstart qs
expect "status" help st
expect "--json" status --js
expect "examples" plan -f exam
expect "" validate --bogus-prefix
if command -v zsh >/dev/null; then
  zsh -n dist/completion/_kvz || { echo "FAIL - zsh cannot parse _kvz"; fails=$((fails + 1)); }
fi
((fails)) && exit 1
echo "completion: ok"
