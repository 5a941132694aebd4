import mysql.connector
from flask import Flask

server = Flask(__name__)
connection = None


def database():
    global connection
    if connection is None:
        with open('/run/secrets/db-password') as f:
            password = f.read().strip()
        connection = mysql.connector.connect(user='root', password=password, host='db', database='example',
                                             auth_plugin='mysql_native_password')
        cursor = connection.cursor()
        cursor.execute('DROP TABLE IF EXISTS posts')
        cursor.execute('CREATE TABLE posts (id INT AUTO_INCREMENT PRIMARY KEY, title VARCHAR(255))')
        cursor.executemany('INSERT INTO posts (title) VALUES (%s)', [('Post %d' % i,) for i in range(1, 4)])
        connection.commit()
    return connection


@server.route('/')
def posts():
    cursor = database().cursor()
    cursor.execute('SELECT title FROM posts ORDER BY id')
    return ''.join('<div>%s</div>\n' % row[0] for row in cursor)
