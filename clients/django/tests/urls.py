from django.urls import include, path

from tests import views

urlpatterns = [
    path("async/", views.async_whoami),
    path("", include("example_site.urls")),
]
