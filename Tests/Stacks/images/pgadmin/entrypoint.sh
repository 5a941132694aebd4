#!/bin/sh
# The login comes from PGADMIN_DEFAULT_EMAIL and PGADMIN_DEFAULT_PASSWORD (required on the first start);
# then gunicorn serves pgAdmin on PGADMIN_LISTEN_ADDRESS:PGADMIN_LISTEN_PORT (0.0.0.0:80).
set -e
dir=$(python3 -c 'import pgadmin4; print(list(pgadmin4.__path__)[0])')
if [ ! -f /var/lib/pgadmin/pgadmin4.db ]; then
  if [ -z "${PGADMIN_DEFAULT_EMAIL:-}" ] || [ -z "${PGADMIN_DEFAULT_PASSWORD:-}" ]; then
    echo 'You need to define the PGADMIN_DEFAULT_EMAIL and PGADMIN_DEFAULT_PASSWORD or PGADMIN_DEFAULT_PASSWORD_FILE environment variables.' >&2
    exit 1
  fi
  PGADMIN_SETUP_EMAIL=$PGADMIN_DEFAULT_EMAIL PGADMIN_SETUP_PASSWORD=$PGADMIN_DEFAULT_PASSWORD python3 "$dir/setup.py" setup-db
fi
exec gunicorn --bind "${PGADMIN_LISTEN_ADDRESS:-0.0.0.0}:${PGADMIN_LISTEN_PORT:-80}" --workers 1 --threads 25 \
  --access-logfile - --chdir "$dir" pgAdmin4:app
