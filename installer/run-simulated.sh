#!/usr/bin/env bash
# Builds madoguchi and runs the kiosk on the simulators (no reader or camera needed): the
# virtual My Number card goes into the vpcd reader of the system's pcscd (started if needed).
# Installs what is missing first (installer/deps.sh). With no display (a headless machine) it
# runs the kiosk on a virtual screen (Xvfb) and saves a screenshot every 10 s to
# target/kiosk-screen.png so you can see it. Extra arguments go to madoguchi.
set -euo pipefail
cd "$(dirname "$0")/.."
./installer/deps.sh
export PATH="$HOME/.cargo/bin:$PATH"

(cd ui && npm run build)
cargo build -p madoguchi
BIN=target/debug/madoguchi

# The virtual card is served to the real pcscd through the vpcd driver, so pcscd must run.
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
if ! pgrep -x pcscd >/dev/null 2>&1; then
  if [ -d /run/systemd/system ]; then
    echo "[kiosk] starting pcscd (systemd socket)" >&2
    $SUDO systemctl start pcscd.socket
  else
    echo "[kiosk] starting pcscd" >&2
    $SUDO pcscd
  fi
fi

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  exec "$BIN" --simulate "$@"
fi

echo "[kiosk] no display: running on a virtual screen (Xvfb 1600x900); Ctrl-C stops it." >&2
echo "[kiosk] screenshot every 10 s: $(pwd)/target/kiosk-screen.png" >&2
exec xvfb-run -a -s "-screen 0 1600x900x24 -nolisten tcp" bash -c '
  matchbox-window-manager -use_titlebar no >/dev/null 2>&1 &
  "$0" --simulate --single-screen "$@" &
  app=$!
  trap "kill $app 2>/dev/null" INT TERM EXIT
  while kill -0 $app 2>/dev/null; do
    sleep 10
    import -window root target/kiosk-screen.png 2>/dev/null || true
  done
  wait $app
' "$BIN" "$@"
