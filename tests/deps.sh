#!/usr/bin/env bash
# Checks the pkg-config modules given before "--"; when one is missing,
# installs the Debian packages given after it (apt-get, as root or via sudo),
# otherwise prints the exact command to run.
set -u
mods=(); debs=(); seen=0
for a in "$@"; do
  if [ "$a" = "--" ]; then seen=1; continue; fi
  if [ $seen = 0 ]; then mods+=("$a"); else debs+=("$a"); fi
done
missing=()
for m in "${mods[@]}"; do pkg-config --exists "$m" 2>/dev/null || missing+=("$m"); done
for c in sqlite3 jq curl; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: missing ${missing[*]}; installing Debian packages" >&2
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
if command -v apt-get >/dev/null 2>&1 && { [ -z "$sudo" ] || sudo -n true 2>/dev/null; }; then
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${debs[@]}" >/dev/null && exit 0
fi
echo "deps: please run: sudo apt-get install -y ${debs[*]}" >&2
exit 1
