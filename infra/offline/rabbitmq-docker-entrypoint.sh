#!/bin/bash
# Stand-in for the official rabbitmq image's docker-entrypoint.sh: as root, hand the
# data and log dirs to rabbitmq (like the official one, not /etc/rabbitmq: configuration may be
# mounted read-only) and re-exec as that user (setpriv instead of gosu).
set -euo pipefail
if [[ "$1" == rabbitmq* ]] && [ "$(id -u)" = 0 ]; then
    if [ "$1" = rabbitmq-server ]; then
        find /var/lib/rabbitmq /var/log/rabbitmq \! -user rabbitmq -exec chown rabbitmq: '{}' +
    fi
    exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups "$BASH_SOURCE" "$@"
fi
exec "$@"
