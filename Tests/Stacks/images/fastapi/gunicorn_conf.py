# gunicorn's settings from the environment, as the image documents them.
import multiprocessing
import os

host = os.getenv("HOST", "0.0.0.0")
port = os.getenv("PORT", "80")
bind = os.getenv("BIND") or f"{host}:{port}"
per_core = float(os.getenv("WORKERS_PER_CORE", "1"))
concurrency = os.getenv("WEB_CONCURRENCY")
workers = int(concurrency) if concurrency else max(int(per_core * multiprocessing.cpu_count()), 2)
if os.getenv("MAX_WORKERS"):
    workers = min(workers, int(os.getenv("MAX_WORKERS")))
loglevel = os.getenv("LOG_LEVEL", "info")
accesslog = os.getenv("ACCESS_LOG", "-") or None
errorlog = os.getenv("ERROR_LOG", "-") or None
graceful_timeout = int(os.getenv("GRACEFUL_TIMEOUT", "120"))
timeout = int(os.getenv("TIMEOUT", "120"))
keepalive = int(os.getenv("KEEP_ALIVE", "5"))
