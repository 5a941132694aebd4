#!/bin/bash
# First start: the data directory initialised, root's password set (or a random one, or none when
# allowed), the database and user of MARIADB_DATABASE/MARIADB_USER/MARIADB_PASSWORD made (MYSQL_*
# names too, and *_FILE for each), /docker-entrypoint-initdb.d run. Then the server, as mysql.
set -eo pipefail

log() { echo "$(date -u '+%F %T') 0 [Note] [Entrypoint]: $*"; }
die() { echo "$(date -u '+%F %T') 0 [ERROR] [Entrypoint]: $*" >&2; exit 1; }

# VAR from VAR, VAR_FILE, or the MYSQL_ name of the same thing.
setting() {
  local name=$1 fallback=$2 value="" file_var="${1}_FILE" alt_file="${2}_FILE"
  if [ -n "${!name:-}" ]; then value=${!name}
  elif [ -n "${!file_var:-}" ]; then value=$(< "${!file_var}")
  elif [ -n "${!fallback:-}" ]; then value=${!fallback}
  elif [ -n "${!alt_file:-}" ]; then value=$(< "${!alt_file}")
  fi
  printf '%s' "$value"
}

if [ "${1:0:1}" = - ]; then set -- mariadbd "$@"; fi

if [ "$1" = mariadbd ] || [ "$1" = mysqld ]; then
  datadir=$("$@" --verbose --help 2>/dev/null | awk '$1 == "datadir" { print $2; exit }')
  datadir=${datadir:-/var/lib/mysql}
  if [ "$(id -u)" = 0 ]; then
    mkdir -p "$datadir" /run/mysqld
    find "$datadir" /run/mysqld \! -user mysql -exec chown mysql:mysql '{}' +
    exec gosu mysql "${BASH_SOURCE[0]}" "$@"
  fi
  if [ ! -d "$datadir/mysql" ]; then
    root_password=$(setting MARIADB_ROOT_PASSWORD MYSQL_ROOT_PASSWORD)
    allow_empty=$(setting MARIADB_ALLOW_EMPTY_ROOT_PASSWORD MYSQL_ALLOW_EMPTY_PASSWORD)
    random_root=$(setting MARIADB_RANDOM_ROOT_PASSWORD MYSQL_RANDOM_ROOT_PASSWORD)
    if [ -z "$root_password" ] && [ -z "$allow_empty" ] && [ -z "$random_root" ]; then
      die "Database is uninitialized and password option is not specified
	You need to specify one of MARIADB_ROOT_PASSWORD, MARIADB_ROOT_PASSWORD_HASH, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and MARIADB_RANDOM_ROOT_PASSWORD"
    fi
    if [ -n "$random_root" ]; then
      root_password=$(head -c 24 /dev/urandom | base64)
      log "GENERATED ROOT PASSWORD: $root_password"
    fi
    log "Initializing database files"
    mariadb-install-db --datadir="$datadir" --rpm --auth-root-authentication-method=normal \
      --skip-test-db --skip-name-resolve --default-time-zone=SYSTEM >/dev/null
    log "Database files initialized"
    log "Starting temporary server"
    socket=/run/mysqld/mysqld.sock
    "$@" --skip-networking --socket="$socket" --datadir="$datadir" &
    pid=$!
    for i in $(seq 60); do
      if mariadb-admin --socket="$socket" --user=root ping >/dev/null 2>&1; then break; fi
      kill -0 "$pid" 2>/dev/null || die "Unable to start server."
      sleep 0.5
    done
    log "Temporary server started."
    sql() { mariadb --protocol=socket --socket="$socket" --user=root --binary-mode "$@"; }
    quote() { printf "'%s'" "${1//\'/\'\'}"; }
    database=$(setting MARIADB_DATABASE MYSQL_DATABASE)
    user=$(setting MARIADB_USER MYSQL_USER)
    password=$(setting MARIADB_PASSWORD MYSQL_PASSWORD)
    {
      echo "SET @@SESSION.SQL_LOG_BIN=0;"
      echo "DELETE FROM mysql.global_priv WHERE user NOT IN ('mysql.sys', 'mariadb.sys', 'root') OR host NOT IN ('localhost');"
      echo "SET PASSWORD FOR 'root'@'localhost'=PASSWORD($(quote "$root_password"));"
      echo "CREATE USER 'root'@'%' IDENTIFIED BY $(quote "$root_password");"
      echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
      if [ -n "$database" ]; then echo "CREATE DATABASE IF NOT EXISTS \`$database\`;"; fi
      if [ -n "$user" ] && [ -n "$password" ]; then
        echo "CREATE USER $(quote "$user")@'%' IDENTIFIED BY $(quote "$password");"
        if [ -n "$database" ]; then echo "GRANT ALL ON \`${database//_/\\_}\`.* TO $(quote "$user")@'%';"; fi
      fi
      echo "FLUSH PRIVILEGES;"
    } | sql
    for f in /docker-entrypoint-initdb.d/*; do
      case "$f" in
        *.sh) log "running $f"; . "$f" ;;
        *.sql) log "running $f"; sql ${database:+--database="$database"} < "$f" ;;
        *.sql.gz) log "running $f"; gunzip -c "$f" | sql ${database:+--database="$database"} ;;
      esac
    done
    log "Stopping temporary server"
    kill "$pid"
    wait "$pid" || true
    log "Temporary server stopped"
    log "MariaDB init process done. Ready for start up."
  fi
fi
exec "$@"
