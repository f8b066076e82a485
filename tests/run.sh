#!/usr/bin/env bash
# Runs every check and test of madoguchi, installing what is missing first (installer/deps.sh):
# formatting, clippy (warnings are errors), the UI's type check, unit tests and build, the
# Rust unit and integration tests, and the end-to-end test of the real app under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."
./installer/deps.sh
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; SECONDS_AT_STEP=$SECONDS; }
started=$SECONDS

step "UI: type check, unit tests, build"
(cd ui && npm run check && npm test && npm run build)

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build the app for the end-to-end tests"
cargo build -p madoguchi --locked

step "tests (unit, integration, end-to-end)"
cargo nextest run --workspace --locked --no-fail-fast

echo "all checks passed in $((SECONDS - started)) s"
