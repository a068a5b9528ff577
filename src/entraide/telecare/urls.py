from django.urls import path

from . import views

app_name = "telecare"

urlpatterns = [
    path("telecare/", views.console, name="console"),
    path("telecare/stream/", views.stream, name="stream"),
    path("telecare/alerts/<int:alert_id>/", views.alert, name="alert"),
    path("telecare/alerts/<int:alert_id>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("telecare/alerts/<int:alert_id>/dispatch/", views.dispatch, name="dispatch"),
    path("telecare/alerts/<int:alert_id>/resolve/", views.resolve, name="resolve"),
    path("telecare/installations/new/", views.equip, name="equip"),
    path("telecare/installations/<int:installation_id>/", views.installation,
         name="installation"),
    path("telecare/installations/<int:installation_id>/edit/", views.edit, name="edit"),
]
