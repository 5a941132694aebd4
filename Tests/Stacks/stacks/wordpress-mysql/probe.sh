wait_for db mariadb-admin ping -uwordpress -pwordpress -h 127.0.0.1 --silent
http WEB_PORT /
http WEB_PORT /wp-admin/install.php title
compose_exec wordpress sh -c 'stat -c "%U %n" /var/www/html/wp-config.php /var/www/html/index.php'
