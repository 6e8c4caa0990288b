#!/usr/bin/env bash
# kvz(1) cannot drift from the binary: every command `kvz help` lists has its section in the
# generated page, and every option `kvz help COMMAND` lists (cmd/options.c) is in that section;
# every global option is in GLOBAL OPTIONS. Reads the page as man renders it.
set -uo pipefail
kvz=${KVZ_BINARY:?}
page=${KVZ_MAN_PAGE:?}
fails=0
text=$(MANWIDTH=200 man -l "$page" 2>/dev/null | col -bx)
[[ -n $text ]] || { echo "FAIL - man cannot render $page"; exit 1; }
# section NAME: the lines of the page from the heading NAME to the next heading at its level
section() {
  awk -v h="$1" '$0 == h {on = 1; next} on && /^[^ ]/ {exit} on && /^   [^ ]/ {exit} on' <<<"$text"
}
sub() { # the lines of subsection "kvz CMD" of COMMANDS
  awk -v h="   kvz $1" '$0 == h {on = 1; next} on && (/^[^ ]/ || /^   [^ ]/) {exit} on' <<<"$text"
}
commands=$("$kvz" help | awk '/^Commands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {exit}')
[[ $(wc -l <<<"$commands") -ge 7 ]] || { echo "FAIL - cannot read the commands from 'kvz help'"; exit 1; }
for c in $commands; do
  body=$(sub "$c")
  if [[ -z $body ]]; then echo "FAIL - no section 'kvz $c' in kvz(1)"; fails=$((fails + 1)); continue; fi
  for o in $("$kvz" help "$c" | awk '/^Global options:/ {exit} /^  -/ {print $1}'); do
    o=${o%,}
    grep -qE -- "(^|[ ,])$o([ ,=]|$)" <<<"$body" || { echo "FAIL - kvz(1) 'kvz $c' lacks $o"; fails=$((fails + 1)); }
  done
done
glob=$(section "GLOBAL OPTIONS")
for o in $("$kvz" help | awk '/^Global options:/ {on = 1; next} on && /^  -/ {print $1; if ($2 ~ /^-/) print $2}'); do
  o=${o%,}
  grep -qE -- "(^|[ ,])$o([ ,=]|$)" <<<"$glob" || { echo "FAIL - kvz(1) GLOBAL OPTIONS lacks $o"; fails=$((fails + 1)); }
done
for s in "EXIT STATUS" ENVIRONMENT EXAMPLES; do
  [[ -n $(section "$s") ]] || { echo "FAIL - kvz(1) has no $s"; fails=$((fails + 1)); }
done
grep -q KVZ_STATE_DIR <<<"$(section ENVIRONMENT)" && grep -q KVZ_VM_STOP_TIMEOUT <<<"$(section ENVIRONMENT)" ||
  { echo "FAIL - ENVIRONMENT lacks the state dir or the stop timeout"; fails=$((fails + 1)); }
MANWIDTH=200 man -l "${page%/*}/kvz.yaml.5" 2>/dev/null | grep -q "stop_timeout" ||
  { echo "FAIL - kvz.yaml(5) lacks the manifest's keys"; fails=$((fails + 1)); }
((fails)) && exit 1
echo "kvz(1): $(wc -w <<<"$commands") commands and their options all documented"
