#!/bin/sh
# As the official image behaves: options alone (`--appendonly yes`) or a .conf file run redis-server;
# started as root, the data directory is given to redis and the server runs as redis; without a
# configuration file it listens on every address with protected mode off.
set -e
case "$1" in
  -*|*.conf) set -- redis-server "$@" ;;
esac
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec gosu redis "$0" "$@"
fi
if [ "$1" = redis-server ]; then
  case "$2" in
    *.conf) ;;
    *) set -- "$@" --protected-mode no ;;
  esac
fi
um=$(umask)
if [ "$um" = 0022 ]; then umask 0077; fi
exec "$@"
