http WEB_PORT /
http WEB_PORT '/items/42?q=answer'
