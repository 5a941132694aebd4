<?php
echo "Hello from PHP under Apache\n";
echo "served by " . posix_getpwuid(posix_geteuid())['name'] . "\n";
echo "document root " . $_SERVER['DOCUMENT_ROOT'] . "\n";
