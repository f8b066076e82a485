#!/bin/sh
# Development only: screenshots of every screen and step, from the mock build (dist-mock/,
# src/dev/mock.ts), in headless Chromium (`apt-get install chromium`). Nothing here ships.
#   scripts/shots.sh                      → shots/<side>-<scene>-<lang>.png at 1280×800
#   scripts/shots.sh WIDTHxHEIGHT ...     → shots/<side>-<scene>-<lang>-WIDTHxHEIGHT.png
# Narrower runs: SCENES="idle review_ok" SIDES=teller LANGS=ja scripts/shots.sh 800x900
# (NOBUILD=1 reuses dist-mock/ as it is.)
set -eu
cd "$(dirname "$0")/.."
[ "$#" -gt 0 ] || set -- 1280x800
port=${PORT:-5199}
scenes=${SCENES:-"idle wait_card pin_entry pin_wrong reading card_back face code_b_entry sign_entry \
  review_ok review_attack result_ok result_refused result_attack result_cancelled"}
sides=${SIDES:-"teller customer"}
langs=${LANGS:-"ja en"}
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "chromium is needed: apt-get install -y chromium" >&2; exit 1; }
[ -n "${NOBUILD:-}" ] || npx vite build --mode mock >/dev/null
mkdir -p shots
python3 -m http.server "$port" --bind 127.0.0.1 --directory dist-mock >/dev/null 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
sleep 1
for size in "$@"; do
  suffix=""
  [ "$size" = "1280x800" ] || suffix="-$size"
  w=${size%x*}
  h=${size#*x}
  for scene in $scenes; do
    for lang in $langs; do
      for side in $sides; do
        timeout 60 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
          --window-size="$w,$h" --virtual-time-budget=2500 \
          --screenshot="shots/$side-$scene-$lang$suffix.png" \
          "http://127.0.0.1:$port/index.html?scene=$scene&lang=$lang#$side" >/dev/null 2>&1
      done
    done
  done
done
echo "screenshots in $(pwd)/shots"
