# Stand-in for the official prom/prometheus: Debian's prometheus (2.53, with promtool) on the
# locally debootstrapped base, laid out like the official image where the shop relies on it:
# /bin/prometheus and /bin/promtool (Debian installs them in /usr/bin; /bin is that directory on
# trixie's merged /usr), the TSDB in /prometheus, user nobody, wget for the health check (the
# official image's busybox has one). Built by ./build-bases.
ARG BASE_IMAGE=shop-offline/debian:trixie
FROM ${BASE_IMAGE}

ENV LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive

# policy-rc.d: the package must not try to start the server at build. No recommends: the
# node exporter and the web console templates are not used.
RUN set -eux; \
    rm -f /etc/apt/sources.list.d/debian.sources; \
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; \
    chmod +x /usr/sbin/policy-rc.d; \
    apt-get update; \
    apt-get install -y --no-install-recommends prometheus wget; \
    rm -rf /var/lib/apt/lists/*; \
    test -x /bin/prometheus || ln -s /usr/bin/prometheus /bin/prometheus; \
    test -x /bin/promtool || ln -s /usr/bin/promtool /bin/promtool; \
    install -d -o nobody -g nogroup /prometheus; \
    prometheus --version; promtool --version

USER nobody
WORKDIR /prometheus
VOLUME /prometheus
EXPOSE 9090
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
