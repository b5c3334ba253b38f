# shellcheck shell=bash
# Shared by scripts/run and scripts/test (sourced): the virtualenv and the addresses that follow
# from the service ports, unless the environment already says otherwise.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
export PATH="$VENV/bin:$PATH"
export KAFKA_HOST=${KAFKA_HOST:-127.0.0.1} KAFKA_PORT=${KAFKA_PORT:-9092}
# The local broker's SASL listener (scripts/stack), which the SASL tests use.
export KAFKA_SASL_PORT=${KAFKA_SASL_PORT:-9094}
export REDIS_HOST=${REDIS_HOST:-127.0.0.1} REDIS_PORT=${REDIS_PORT:-6379}
export KAFKA_BOOTSTRAP_SERVERS=${KAFKA_BOOTSTRAP_SERVERS:-$KAFKA_HOST:$KAFKA_PORT}
say() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2 || true; }  # never fail: stderr may be a closed pipe
port_taken() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
# apt_ensure COMMAND PACKAGE: install PACKAGE with apt when COMMAND is missing (as root); else say
# how to, and fail.
apt_ensure() {
  command -v "$1" >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "$1 not found, installing $2 with apt-get"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"; } >&2 && return 0
  fi
  say "$1 is needed: apt-get install $2"
  return 1
}
