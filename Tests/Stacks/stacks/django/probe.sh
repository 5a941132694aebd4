http WEB_PORT /
