#!/bin/bash
# Stand-in for the official postgres image's docker-entrypoint.sh, reduced to what
# the shop platform relies on:
#   - POSTGRES_PASSWORD (required), POSTGRES_USER (default postgres) and POSTGRES_DB
#     (default $POSTGRES_USER) for the superuser and its database;
#   - initdb when $PGDATA is empty, then /docker-entrypoint-initdb.d/*.sh (executed if
#     executable, else sourced) and *.sql (psql), once, against a socket-only server;
#   - password (scram-sha-256) auth for network clients, listen on all addresses;
#   - runs postgres as user postgres.
set -Eeuo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
if [ "${1:0:1}" = '-' ]; then
    set -- postgres "$@"
fi

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA"
    chown -R postgres:postgres "$PGDATA"
    chmod 700 "$PGDATA"
    mkdir -p /var/run/postgresql
    chown postgres:postgres /var/run/postgresql
    chmod 3777 /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo >&2 'error: database is uninitialized and POSTGRES_PASSWORD is not set'
        exit 1
    fi
    export POSTGRES_USER="${POSTGRES_USER:-postgres}"
    export POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
    echo "entrypoint: initdb in $PGDATA (superuser $POSTGRES_USER)"
    # shellcheck disable=SC2086
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
        --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA" ${POSTGRES_INITDB_ARGS:-} >/dev/null
    printf '\nhost all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"

    export PGPASSWORD="$POSTGRES_PASSWORD"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start >/dev/null
    psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --no-password)
    if [ "$POSTGRES_DB" != postgres ]; then
        "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    psql+=(--dbname "$POSTGRES_DB")
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sh)
                if [ -x "$f" ]; then echo "entrypoint: running $f"; "$f"
                else echo "entrypoint: sourcing $f"; . "$f"; fi ;;
            *.sql) echo "entrypoint: running $f"; "${psql[@]}" -f "$f" ;;
            *) if [ -e "$f" ]; then echo "entrypoint: ignoring $f"; fi ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    unset PGPASSWORD
    echo 'entrypoint: init process complete; ready for start up'
fi

exec "$@"
