# Stand-in for the official python:3.13-slim, built from Debian packages on the
# locally debootstrapped base (no registry reachable). Built by ./build-bases.
ARG BASE_IMAGE=shop-offline/debian:trixie
FROM ${BASE_IMAGE}

ENV LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive

# Debian's python3 is 3.13 (trixie). python3-venv for `python -m venv`, python3-pip so that
# `pip` exists like in the official image. The official image has no
# EXTERNALLY-MANAGED marker (pip may install system-wide there), so drop Debian's.
RUN set -eux; \
    rm -f /etc/apt/sources.list.d/debian.sources; \
    apt-get update; \
    apt-get install -y --no-install-recommends python3 python3-venv python3-pip; \
    rm -rf /var/lib/apt/lists/*; \
    rm -f /usr/lib/python3.13/EXTERNALLY-MANAGED; \
    ln -sf /usr/bin/python3 /usr/local/bin/python; \
    ln -sf /usr/bin/python3 /usr/local/bin/python3; \
    ln -sf /usr/bin/pip3 /usr/local/bin/pip; \
    ln -sf /usr/bin/pip3 /usr/local/bin/pip3; \
    python --version

# The host's CA bundle (it holds the CA of the TLS proxy in front of PyPI). Only in
# this local base, never in the official-image path.
COPY host-ca-bundle.crt /usr/local/share/shop-offline/ca-bundle.crt
ENV PIP_CERT=/usr/local/share/shop-offline/ca-bundle.crt \
    SSL_CERT_FILE=/usr/local/share/shop-offline/ca-bundle.crt \
    REQUESTS_CA_BUNDLE=/usr/local/share/shop-offline/ca-bundle.crt

CMD ["python3"]
