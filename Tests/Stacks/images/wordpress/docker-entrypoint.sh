#!/bin/bash
# Before Apache starts: WordPress copied into an empty /var/www/html (owned by www-data when started
# as root), and wp-config.php made from wp-config-docker.php when WORDPRESS_* variables are set.
set -Eeuo pipefail
if [[ "$1" == apache2* ]] || [ "$1" = php-fpm ]; then
  uid=$(id -u); gid=$(id -g)
  if [ "$uid" = 0 ]; then user=www-data; group=www-data; else user=$uid; group=$gid; fi
  if [ ! -e index.php ] && [ ! -e wp-includes/version.php ]; then
    echo >&2 "WordPress not found in $PWD - copying now..."
    if [ "$uid" = 0 ] && [ "$(stat -c %u .)" = 0 ]; then chown "$user:$group" .; fi
    tar --create --file - --directory /usr/src/wordpress --owner "$user" --group "$group" . | tar --extract --file -
    echo >&2 "Complete! WordPress has been successfully copied to $PWD"
  fi
  wp_env=$(compgen -e | grep '^WORDPRESS_' || true)
  if [ -n "$wp_env" ] && [ ! -s wp-config.php ]; then
    for key in AUTH_KEY SECURE_AUTH_KEY LOGGED_IN_KEY NONCE_KEY AUTH_SALT SECURE_AUTH_SALT LOGGED_IN_SALT NONCE_SALT; do
      var=WORDPRESS_$key
      if [ -z "${!var:-}" ]; then export "$var=$(head -c 40 /dev/urandom | sha1sum | cut -c1-40)"; fi
    done
    cp /usr/src/wordpress/wp-config-docker.php wp-config.php
    if [ "$uid" = 0 ]; then chown "$user:$group" wp-config.php; fi
  fi
fi
exec "$@"
