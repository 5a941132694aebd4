http WEB_PORT /
http WEB_PORT /missing
