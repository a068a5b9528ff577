from django.urls import path

from . import views

app_name = "screening"

urlpatterns = [
    path("screening/", views.lead_list, name="leads"),
    path("screening/leads/<int:lead_id>/", views.lead, name="lead"),
    path("screening/runs/", views.runs, name="runs"),
    path("screening/scorecard/", views.scorecard, name="scorecard"),
]
