http WEB_PORT /
http WEB_PORT /health-check
http WEB_PORT /cache-me
http APP_PORT /
compose_exec nginx-proxy sh -c 'id -un; ls -l /proc/1/fd/1 >/dev/null && echo stdout-readable'
logs_count nginx-proxy 'GET / HTTP'
