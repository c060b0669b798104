#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster owned by this run; print the URL on stdout.
# Usage: url=$(bash .ci/postgres.sh start DIR PORT); ...; bash .ci/postgres.sh stop DIR
set -euo pipefail
action=${1:?start|stop}
dir=${2:?data directory}
port=${3:-55432}

find_bin() {
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$found" ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "installing PostgreSQL from Debian's packages..." >&2
            (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) >&2
            found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
        else
            echo "PostgreSQL is not installed and this run cannot install it (needs root and apt-get)" >&2
            exit 3
        fi
    fi
    echo "$found"
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        su postgres -s /bin/bash -c "$*"
    else
        bash -c "$*"
    fi
}

case "$action" in
start)
    bin=$(find_bin)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    as_owner "'$bin/initdb' -D '$dir/data' -U crmflow --auth=trust -E UTF8 >/dev/null"
    as_owner "'$bin/pg_ctl' -D '$dir/data' -l '$dir/log' -w -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200\" start >/dev/null"
    as_owner "'$bin/createdb' -h 127.0.0.1 -p $port -U crmflow crmflow_test"
    echo "postgresql+psycopg://crmflow@127.0.0.1:$port/crmflow_test"
    ;;
stop)
    bin=$(find_bin)
    as_owner "'$bin/pg_ctl' -D '$dir/data' -m fast stop >/dev/null" || true
    rm -rf "$dir"
    ;;
esac
