#!/usr/bin/env bash
# Installs what building, running and testing madoguchi needs on Debian/Ubuntu, when missing:
# system packages (apt, from shared/design/platform.md), a Rust toolchain, Node.js >= 20,
# cargo-nextest, and the UI's npm packages (npm ci, from the committed package-lock.json).
# Safe to run again: it only installs what is missing. Needs root or sudo for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[deps]\033[0m %s\n' "$*" >&2; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(
  build-essential pkg-config curl ca-certificates libssl-dev
  libwebkit2gtk-4.1-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev libgtk-3-dev librsvg2-dev
  libpcsclite-dev pcscd pcsc-tools vsmartcard-vpcd opensc libopenjp2-tools
  clang libclang-dev libudev-dev
  xvfb xauth webkit2gtk-driver imagemagick matchbox-window-manager xdotool wmctrl
  fonts-noto-cjk
  postgresql python3-venv openssl fonts-dejavu-core
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing system packages: ${missing[*]}"
  $SUDO apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  say "system packages present"
fi

# Rust: the project needs edition 2024 (rustc >= 1.88). Debian's rustc is older, so rustup.
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  say "installing Rust with rustup"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy,rustfmt
  export PATH="$HOME/.cargo/bin:$PATH"
fi
for comp in clippy rustfmt; do
  if ! cargo "${comp/rustfmt/fmt}" --version >/dev/null 2>&1; then
    say "adding rustup component $comp"
    rustup component add "$comp"
  fi
done
if ! cargo nextest --version >/dev/null 2>&1; then
  say "installing cargo-nextest (a few minutes)"
  cargo install cargo-nextest --locked
fi

# Node.js >= 20 for the UI build (Vite 8).
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(node_major)" -lt 20 ]; then
  say "installing Node.js and npm from the distribution"
  $SUDO apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm
  if [ "$(node_major)" -lt 20 ]; then
    say "Node.js $(node --version 2>/dev/null || echo none) is too old: the UI needs Node.js 20 or newer"
    exit 1
  fi
fi

# The UI's packages, exactly as locked.
if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
  say "npm ci (ui/)"
  (cd ui && npm ci --no-audit --no-fund)
else
  say "ui/node_modules up to date"
fi
