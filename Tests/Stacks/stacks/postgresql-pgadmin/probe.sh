wait_for postgres pg_isready -U yourUser -h 127.0.0.1
compose_exec postgres psql -U yourUser -d postgres -tAc 'select current_user, current_database()'
compose_exec postgres sh -c 'stat -c "%U %a" "$PGDATA"; df -h /dev/shm | tail -1 | awk "{print \$2}"'
http WEB_PORT /misc/ping
http WEB_PORT /login title
