#!/bin/sh
# Entrypoint wrapper of every service in the Swarm stack (mounted as a Docker config).
# Docker secrets arrive as files, the shop's processes read environment variables: each secret
# mounted as /run/secrets/<VARIABLE> (e.g. /run/secrets/DATABASE_URL) is exported as that
# variable, then the image's own entrypoint and command run. Credentials thus never appear in
# the service spec (`docker service inspect`), only inside the container.
set -eu

for file in /run/secrets/*; do
    [ -f "$file" ] || continue
    name=${file##*/}
    case $name in
        '' | [0-9]* | *[!A-Za-z0-9_]*) continue ;;  # not a variable name: leave it as a file
    esac
    value=$(cat "$file")
    export "$name=$value"
done
exec "$@"
