# Stand-in for the official postgres:17: Debian's postgresql-17 on the locally
# debootstrapped base, with an entrypoint giving what the project relies on from the
# official one (see postgres-docker-entrypoint.sh). Built by ./build-bases.
ARG BASE_IMAGE=shop-offline/debian:trixie
FROM ${BASE_IMAGE}

ENV LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive

# policy-rc.d: no service start at build; create_main_cluster=false: no Debian
# cluster in /var/lib/postgresql/17/main (the entrypoint runs initdb on the volume).
# listen_addresses='*' in the sample config, as the official image does.
RUN set -eux; \
    rm -f /etc/apt/sources.list.d/debian.sources; \
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; \
    chmod +x /usr/sbin/policy-rc.d; \
    mkdir -p /etc/postgresql-common/createcluster.d; \
    echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/no-main-cluster.conf; \
    apt-get update; \
    apt-get install -y --no-install-recommends postgresql-17; \
    rm -rf /var/lib/apt/lists/*; \
    sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" /usr/share/postgresql/17/postgresql.conf.sample; \
    grep -F "listen_addresses = '*'" /usr/share/postgresql/17/postgresql.conf.sample; \
    mkdir -p /docker-entrypoint-initdb.d /var/run/postgresql; \
    chown postgres:postgres /var/run/postgresql; \
    chmod 3777 /var/run/postgresql

ENV PATH=/usr/lib/postgresql/17/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
RUN install -d -o postgres -g postgres -m 700 "$PGDATA"
VOLUME /var/lib/postgresql/data

COPY postgres-docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
