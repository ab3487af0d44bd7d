#!/bin/sh
# lpsafe(1) is what scripts/md2man.py makes of docs/lpsafe.1.md (regenerate:
# python3 scripts/md2man.py docs/lpsafe.1.md VERSION > docs/lpsafe.1), and
# both manual pages render without a warning from man.
#   man_pages_test.sh SOURCE_DIR VERSION
set -eu
src=$1
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
python3 "$src/scripts/md2man.py" "$src/docs/lpsafe.1.md" "$2" >"$tmp"
cmp -s "$tmp" "$src/docs/lpsafe.1" || { echo "docs/lpsafe.1 is stale: regenerate it from docs/lpsafe.1.md" >&2; exit 1; }
for page in lpsafe.1 lpsafe.3; do
    warnings=$(MANWIDTH=80 man -l --warnings "$src/docs/$page" 2>&1 >/dev/null)
    [ -z "$warnings" ] || { echo "$page: $warnings" >&2; exit 1; }
    MANWIDTH=80 man -l "$src/docs/$page" | grep -q '^NAME' || { echo "$page does not render" >&2; exit 1; }
done
echo "man_pages: lpsafe.1 up to date, lpsafe.1 and lpsafe.3 render"
