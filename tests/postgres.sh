#!/usr/bin/env bash
# Runs the test suite against a real PostgreSQL server: installs Debian's package when missing, starts a
# throwaway cluster in a temporary directory on loopback, runs pytest against it, and stops it afterwards.
# Fails loudly (never skips) when the server cannot be installed or started.
# `tests/postgres.sh --run CMD ARGS...` runs CMD instead of pytest (benchmarks: bench/scale.py), with
# LINLI_TEST_PG_ADMIN_URL pointing at the server.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}

find_bin() {
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
    done
    return 1
}

if ! PGBIN=$(find_bin); then
    echo ">>> PostgreSQL is not installed; installing Debian's postgresql package"
    if [ "$(id -u)" -ne 0 ]; then
        echo "!!! cannot install PostgreSQL: not root. Install the 'postgresql' package and re-run." >&2
        exit 1
    fi
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) || {
        echo "!!! FAILED to install PostgreSQL: the PostgreSQL test run cannot happen." >&2
        exit 1
    }
    PGBIN=$(find_bin) || { echo "!!! PostgreSQL installed but pg_ctl not found" >&2; exit 1; }
fi

RUNAS=()
if [ "$(id -u)" -eq 0 ]; then
    # The server refuses to run as root.
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    RUNAS=(runuser -u postgres --)
fi

DATA=$(mktemp -d /tmp/linli-pg.XXXXXX)
chmod 700 "$DATA"
[ "$(id -u)" -eq 0 ] && chown postgres "$DATA"
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

cleanup() {
    "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$DATA/db" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$DATA"
}
trap cleanup EXIT

"${RUNAS[@]}" "$PGBIN/initdb" -D "$DATA/db" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
"${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$DATA/db" -l "$DATA/log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$DATA -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null || { echo "!!! PostgreSQL did not start:" >&2; cat "$DATA/log" >&2; exit 1; }

echo ">>> PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT; running the suite on it"
export LINLI_TEST_PG_ADMIN_URL="postgresql+asyncpg://postgres@127.0.0.1:$PORT/postgres"
set +e
if [ "${1:-}" = "--run" ]; then
    # `tests/postgres.sh --run CMD ARGS...`: any command (a benchmark) with the same throwaway server.
    shift
    "$@"
else
    $PY -m pytest "$@"
fi
rc=$?
set -e
if [ $rc -eq 5 ]; then echo "no tests were collected"; fi
exit $rc
