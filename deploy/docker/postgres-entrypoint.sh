#!/usr/bin/env bash
# The postgres image's entrypoint (deploy/docker/Dockerfile, target postgres): on first start
# creates the cluster in $PGDATA with a role and database from $POSTGRES_USER,
# $POSTGRES_PASSWORD and $POSTGRES_DB (default genfarm/genfarm/genfarm), password
# authentication from the network (the local socket trusts the container's own user), then
# runs the server in the foreground. $POSTGRES_LISTEN sets listen_addresses (default '*').
set -euo pipefail
PG=/usr/lib/postgresql/15/bin
user=${POSTGRES_USER:-genfarm}
db=${POSTGRES_DB:-genfarm}
password=${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "$password" >"$pwfile"
  "$PG/initdb" -D "$PGDATA" --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  # Socket only (in /tmp: /run/postgresql does not exist in the image) while the database is made.
  "$PG/pg_ctl" -D "$PGDATA" -o "-k /tmp -h localhost" -w start >/dev/null
  "$PG/psql" -h /tmp -U "$user" -d postgres -v ON_ERROR_STOP=1 -q -c "CREATE DATABASE \"$db\" OWNER \"$user\""
  "$PG/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
  {
    echo "listen_addresses = '${POSTGRES_LISTEN:-*}'"
    echo "unix_socket_directories = '/tmp'"
  } >>"$PGDATA/postgresql.conf"
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
fi
exec "$PG/postgres" -D "$PGDATA"
