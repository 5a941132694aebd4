#!/bin/bash
# First start: initdb as POSTGRES_USER with its password, every address listened on with password
# authentication, POSTGRES_DB made, /docker-entrypoint-initdb.d run against a server on the socket
# only. Then postgres, as postgres.
set -Eeo pipefail

setting() {
  local name=$1 default=${2:-} file_var="${1}_FILE"
  if [ -n "${!name:-}" ]; then printf '%s' "${!name}"
  elif [ -n "${!file_var:-}" ]; then printf '%s' "$(< "${!file_var}")"
  else printf '%s' "$default"; fi
}

if [ "${1:0:1}" = - ]; then set -- postgres "$@"; fi

if [ "$1" = postgres ]; then
  if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    find "$PGDATA" \! -user postgres -exec chown postgres '{}' +
    chmod 00700 "$PGDATA"
    exec gosu postgres "${BASH_SOURCE[0]}" "$@"
  fi
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    user=$(setting POSTGRES_USER postgres)
    password=$(setting POSTGRES_PASSWORD)
    database=$(setting POSTGRES_DB "$user")
    method=$(setting POSTGRES_HOST_AUTH_METHOD scram-sha-256)
    if [ -z "$password" ] && [ "$method" != trust ]; then
      echo 'Error: Database is uninitialized and superuser password is not specified.' >&2
      echo '       You must specify POSTGRES_PASSWORD to a non-empty value for the' >&2
      echo '       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".' >&2
      exit 1
    fi
    initdb --username="$user" --pwfile=<(printf '%s\n' "$password") -D "$PGDATA" $POSTGRES_INITDB_ARGS
    printf "\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
    printf '\nhost all all all %s\n' "$method" >> "$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
    export PGPASSWORD=$password
    psql=(psql -v ON_ERROR_STOP=1 --username "$user" --no-password --no-psqlrc)
    if [ "$database" != postgres ]; then
      echo 'CREATE DATABASE :"db" ;' | "${psql[@]}" --dbname postgres --set db="$database"
    fi
    for f in /docker-entrypoint-initdb.d/*; do
      case "$f" in
        *.sh) echo "running $f"; . "$f" ;;
        *.sql) echo "running $f"; "${psql[@]}" --dbname "$database" -f "$f" ;;
      esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    unset PGPASSWORD
    echo
    echo 'PostgreSQL init process complete; ready for start up.'
    echo
  fi
fi
exec "$@"
