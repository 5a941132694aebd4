http WEB_PORT /
http BACKEND_PORT /
compose_exec db sh -c 'mysql -uroot -p"$(cat /run/secrets/db-password)" -N -e "select count(*) from example.posts"'
