#!/bin/sh
set -e
if [ -f /app/app/main.py ]; then default_module=app.main; else default_module=main; fi
app_module=${APP_MODULE:-${MODULE_NAME:-$default_module}:${VARIABLE_NAME:-app}}
config=/gunicorn_conf.py
for candidate in /app/gunicorn_conf.py /app/app/gunicorn_conf.py; do
  if [ -f "$candidate" ]; then config=$candidate; break; fi
done
if [ -f /app/prestart.sh ]; then
  echo "Running /app/prestart.sh"
  . /app/prestart.sh
fi
exec gunicorn -k "${WORKER_CLASS:-uvicorn.workers.UvicornWorker}" -c "$config" "$app_module"
