#!/usr/bin/env bash
# Every test of rosterd, from a fresh clone: installs what the tests need (a real
# scim2-server, the Prometheus text parser and kubernetes-validate from PyPI, in a venv
# under target/; from Debian when missing: systemd-analyze, OpenLDAP's slapd, and zsh, fish
# and groff to parse the completions and the man page), builds once, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/scim-venv
if [ ! -x "$venv/bin/scim2-server" ] || [ ! -x "$venv/bin/kubernetes-validate" ] \
  || ! "$venv/bin/python" -c 'import prometheus_client' 2>/dev/null \
  || ! "$venv/bin/python" -c 'import scim2_tester, httpx2' 2>/dev/null; then
  echo "== installing scim2-server, scim2-tester (with scim2-client's httpx2 engine), prometheus-client, kubernetes-validate (PyPI) into $venv"
  mkdir -p target
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    'scim2-server==0.8.3' 'scim2-tester==0.5.2' 'scim2-client[httpx2]==0.13.2' 'prometheus-client==0.21.1' 'kubernetes-validate==1.32.0'
fi
export ROSTERD_SCIM2_SERVER="$PWD/$venv/bin/scim2-server"
export ROSTERD_TEST_PYTHON="$PWD/$venv/bin/python"
export ROSTERD_KUBERNETES_VALIDATE="$PWD/$venv/bin/kubernetes-validate"
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "== installing systemd-analyze (Debian's systemd package)"
  apt-get install -y -qq systemd >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq systemd >/dev/null; }
fi
# The LDAP source's tests run a real OpenLDAP (tests/support/slapd.rs); here they never skip.
if ! [ -x /usr/sbin/slapd ] || ! command -v ldapmodify >/dev/null 2>&1; then
  echo "== installing slapd and ldap-utils (Debian's OpenLDAP)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq slapd ldap-utils >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq slapd ldap-utils >/dev/null; }
fi
export ROSTERD_REQUIRE_SLAPD=1
# The shell completions are parsed by each shell (`zsh -n`, `fish -n`) and the man page by groff.
if ! command -v zsh >/dev/null 2>&1 || ! command -v fish >/dev/null 2>&1 || ! command -v groff >/dev/null 2>&1; then
  echo "== installing zsh, fish and groff (Debian's packages) to parse the completions and the man page"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq zsh fish groff-base >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq zsh fish groff-base >/dev/null; }
fi
export ROSTERD_REQUIRE_SHELLS=1

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

if cargo nextest --version >/dev/null 2>&1; then
  echo "== cargo nextest run"
  cargo nextest run --lib --bins --tests --no-fail-fast
else
  echo "== cargo test (cargo-nextest not found)"
  cargo test --lib --bins --tests --no-fail-fast
fi
