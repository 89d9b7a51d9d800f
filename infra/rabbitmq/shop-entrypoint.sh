#!/bin/bash
# Entrypoint of the shop broker image, in front of the base image's own
# docker-entrypoint.sh (the official one, or the offline stand-in; both re-exec
# `rabbitmq*` commands as user rabbitmq).
#   RABBITMQ_ERLANG_COOKIE   required: written to /var/lib/rabbitmq/.erlang.cookie
#                            (owner rabbitmq, mode 400) for the server and the CLI
#   RABBITMQ_ADMIN_USER/_PASSWORD   required for the server: conf.d/90-admin.conf
#                            (default_user/default_pass, used when the node's
#                            database is created; rabbitmq-init keeps it in sync)
set -euo pipefail

die() { echo "shop-entrypoint: error: $*" >&2; exit 1; }

if [ "$(id -u)" = 0 ]; then
    [ -n "${RABBITMQ_ERLANG_COOKIE:-}" ] || die "RABBITMQ_ERLANG_COOKIE is not set"
    cookie=/var/lib/rabbitmq/.erlang.cookie
    (umask 077 && printf '%s' "$RABBITMQ_ERLANG_COOKIE" > "$cookie")
    chown rabbitmq:rabbitmq "$cookie"
    chmod 400 "$cookie"

    if [ "${1:-}" = rabbitmq-server ]; then
        [ -n "${RABBITMQ_ADMIN_USER:-}" ] || die "RABBITMQ_ADMIN_USER is not set"
        [ -n "${RABBITMQ_ADMIN_PASSWORD:-}" ] || die "RABBITMQ_ADMIN_PASSWORD is not set"
        case "$RABBITMQ_ADMIN_USER$RABBITMQ_ADMIN_PASSWORD" in
            *[[:space:]]*) die "RABBITMQ_ADMIN_USER/_PASSWORD must not contain whitespace" ;;
        esac
        admin_conf=/etc/rabbitmq/conf.d/90-admin.conf
        (umask 077 && printf 'default_user = %s\ndefault_pass = %s\n' \
            "$RABBITMQ_ADMIN_USER" "$RABBITMQ_ADMIN_PASSWORD" > "$admin_conf")
        chown rabbitmq:rabbitmq "$admin_conf"
        unset RABBITMQ_ADMIN_PASSWORD
    fi
fi
# The cookie is in the file now; the CLI and server must not also see the
# (deprecated) variable.
unset RABBITMQ_ERLANG_COOKIE
exec docker-entrypoint.sh "$@"
