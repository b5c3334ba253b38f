# shellcheck shell=bash
# Shared by scripts/run and scripts/test (sourced): the virtualenv and the addresses that follow
# from the service ports, unless the environment already says otherwise.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
export PATH="$VENV/bin:$PATH"
export KAFKA_HOST=${KAFKA_HOST:-127.0.0.1} KAFKA_PORT=${KAFKA_PORT:-9092}
export REDIS_HOST=${REDIS_HOST:-127.0.0.1} REDIS_PORT=${REDIS_PORT:-6379}
export KAFKA_BOOTSTRAP_SERVERS=${KAFKA_BOOTSTRAP_SERVERS:-$KAFKA_HOST:$KAFKA_PORT}
say() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2 || true; }  # never fail: stderr may be a closed pipe
port_taken() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
