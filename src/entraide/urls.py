"""Top-level routes: the web UI per app, the JSON API, login, and the admin for configuration."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from entraide.api import api

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("", include("entraide.cases.urls")),
    path("", include("entraide.people.urls")),
    path("", include("entraide.secrecy.urls")),
    path("", include("entraide.org.urls")),
    path("", include("entraide.telecare.urls")),
    path("", include("entraide.screening.urls")),
    path("", include("entraide.territory.urls")),
]
