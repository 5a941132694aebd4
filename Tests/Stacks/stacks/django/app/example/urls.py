from django.http import HttpResponse
from django.urls import path


def index(request):
    return HttpResponse('Hello from Django %s\n' % request.get_host().split(':')[0])


urlpatterns = [path('', index)]
