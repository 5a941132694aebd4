import os
import pwd

from flask import Flask

app = Flask(__name__)


@app.route('/')
def hello():
    return 'Hello from gunicorn, as %s\n' % pwd.getpwuid(os.getuid()).pw_name


@app.route('/cache-me')
def cache():
    return 'nginx will cache this\n'


@app.route('/flask-health-check')
def health():
    return 'success'


if __name__ == '__main__':
    app.run(host='0.0.0.0', port=5000)
