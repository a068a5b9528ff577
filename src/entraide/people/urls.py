from django.urls import path

from . import views

app_name = "people"

urlpatterns = [
    path("reception/", views.reception, name="reception"),
    path("households/<int:household_id>/members/new/", views.new_member, name="new_member"),
    path("households/<int:household_id>/visits/new/", views.log_visit, name="log_visit"),
    path("households/<int:household_id>/edit/", views.edit_household, name="edit_household"),
    path("persons/<int:person_id>/edit/", views.edit_person, name="edit_person"),
    path("persons/<int:person_id>/consents/new/", views.new_consent, name="new_consent"),
    path("persons/merge/", views.merge, name="merge"),
]
