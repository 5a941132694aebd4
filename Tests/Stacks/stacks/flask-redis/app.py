from flask import Flask
from redis import Redis

app = Flask(__name__)
redis = Redis(host='redis', port=6379)


@app.route('/')
def count():
    visits = redis.incr('visits')
    return f'Visit number {visits}, counted in Redis\n'


if __name__ == '__main__':
    app.run(host='0.0.0.0', port=8000)
