# Stand-in for the official rabbitmq:4.3-management: Debian's rabbitmq-server 4.0 (Erlang 27)
# on the locally debootstrapped base. Built by ./build-bases.
ARG BASE_IMAGE=shop-offline/debian:trixie
FROM ${BASE_IMAGE}

ENV LANG=C.UTF-8 LANGUAGE=C.UTF-8 LC_ALL=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive

# policy-rc.d exiting 101: the package must not try to start the broker at build.
RUN set -eux; \
    rm -f /etc/apt/sources.list.d/debian.sources; \
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; \
    chmod +x /usr/sbin/policy-rc.d; \
    apt-get update; \
    apt-get install -y --no-install-recommends rabbitmq-server; \
    rm -rf /var/lib/apt/lists/*; \
    mkdir -p /etc/rabbitmq/conf.d; \
    ln -s /usr/lib/rabbitmq/lib/rabbitmq_server-*/plugins /usr/lib/rabbitmq/plugins; \
    chown -R rabbitmq:rabbitmq /etc/rabbitmq /var/lib/rabbitmq /var/log/rabbitmq

# Debian's /usr/sbin wrappers send the server's output to a startup_log file and
# re-exec the CLI through su; the real scripts live in /usr/lib/rabbitmq/bin.
# HOME: where the server and the CLI (also run as root via docker exec) find the
# Erlang cookie, as in the official image. RABBITMQ_PLUGINS_DIR: Debian's 4.0 CLI cannot find
# the plugins from the /usr/lib/rabbitmq/bin links by itself. RUNNING_UNDER_SYSTEMD: the server script
# then execs erl (beam becomes the container's main process), as in the official image.
ENV PATH=/usr/lib/rabbitmq/bin:$PATH \
    HOME=/var/lib/rabbitmq \
    RABBITMQ_DATA_DIR=/var/lib/rabbitmq \
    RABBITMQ_PLUGINS_DIR=/usr/lib/rabbitmq/plugins \
    RUNNING_UNDER_SYSTEMD=true

RUN set -eux; \
    setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups \
        rabbitmq-plugins enable --offline rabbitmq_management rabbitmq_prometheus; \
    rm -f /var/lib/rabbitmq/.erlang.cookie; \
    printf 'log.console = true\n' > /etc/rabbitmq/conf.d/10-defaults.conf

COPY rabbitmq-docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/rabbitmq
EXPOSE 4369 5671 5672 15672 15692 25672
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["rabbitmq-server"]
