#!/usr/bin/env bash
# Every test of rosterd, from a fresh clone: installs what the tests need (a real
# scim2-server from PyPI, in a venv under target/), builds once, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/scim-venv
if [ ! -x "$venv/bin/scim2-server" ]; then
  echo "== installing scim2-server (PyPI) into $venv"
  mkdir -p target
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'scim2-server==0.8.3'
fi
export ROSTERD_SCIM2_SERVER="$PWD/$venv/bin/scim2-server"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

if cargo nextest --version >/dev/null 2>&1; then
  echo "== cargo nextest run"
  cargo nextest run --all-targets --no-fail-fast
else
  echo "== cargo test (cargo-nextest not found)"
  cargo test --all-targets --no-fail-fast
fi
