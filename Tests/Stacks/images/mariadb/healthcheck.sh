#!/bin/sh
# `healthcheck.sh --connect`: the server answers on its socket.
exec mariadb-admin --socket=/run/mysqld/mysqld.sock --user=root ${MARIADB_ROOT_PASSWORD:+--password="$MARIADB_ROOT_PASSWORD"} ping --silent
