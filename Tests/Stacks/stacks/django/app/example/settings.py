from environs import Env

env = Env()
SECRET_KEY = env.str('SECRET_KEY', 'not-a-secret-for-this-example')
DEBUG = env.bool('DEBUG', True)
ALLOWED_HOSTS = ['*']
INSTALLED_APPS = ['django.contrib.contenttypes', 'django.contrib.staticfiles']
MIDDLEWARE = ['django.middleware.common.CommonMiddleware']
ROOT_URLCONF = 'example.urls'
WSGI_APPLICATION = 'example.wsgi.application'
DATABASES = {}
USE_TZ = True
STATIC_URL = '/static/'
