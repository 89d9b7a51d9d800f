#!/bin/bash
# One database and one login role per service, the role owning its database and
# nothing else: database order_service owned by role order_service, and so on.
# PUBLIC loses CONNECT (and TEMP) on every service database and on `postgres`, so a
# service's role can connect to its own database only.
#
# Run by the postgres entrypoint on the first start (empty volume). Idempotent and
# also re-runnable by hand, e.g. after adding a service or changing a password:
#   docker compose exec postgres /docker-entrypoint-initdb.d/10-service-databases.sh
#
# Env: SHOP_DB_SERVICES (default "order-service billing-service logistic-service");
# for each, <SERVICE>_DB_PASSWORD (order-service -> ORDER_SERVICE_DB_PASSWORD).
set -euo pipefail

for service in ${SHOP_DB_SERVICES:-order-service billing-service logistic-service}; do
    name=${service//-/_}
    var=${name^^}_DB_PASSWORD
    if [ -z "${!var:-}" ]; then
        echo "10-service-databases: error: $var is not set" >&2
        exit 1
    fi
    # The password goes through the environment (\getenv), not the command line.
    SHOP_DB_PASSWORD=${!var} psql -v ON_ERROR_STOP=1 --no-psqlrc -q \
        --username "${POSTGRES_USER:-postgres}" --dbname postgres --set name="$name" <<'SQL'
\getenv pw SHOP_DB_PASSWORD
SELECT format('CREATE ROLE %I', :'name')
    WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'name') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L', :'name', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'name')
    WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'name') \gexec
REVOKE CONNECT, TEMPORARY ON DATABASE postgres FROM PUBLIC;
SQL
    echo "10-service-databases: database $name, owner $name"
done
