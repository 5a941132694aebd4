import os

import redis
from flask import Flask

app = Flask(__name__)
store = redis.Redis(host=os.environ.get("REDIS_HOST", "redis"), port=6379)


@app.route("/")
def hello():
    visits = store.incr("visits")
    return f"Hello from Flask! This page has been visited {visits} times.\n"


@app.route("/health")
def health():
    return "ok\n"
