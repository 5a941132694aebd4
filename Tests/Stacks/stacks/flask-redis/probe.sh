http WEB_PORT /
http WEB_PORT /
tcp REDIS_PORT 'PING\r\n'
