from django.urls import path

from . import views

app_name = "secrecy"

urlpatterns = [
    path("audit/", views.audit, name="audit"),
    path("dpo/persons/", views.persons, name="persons"),
    path("dpo/persons/<int:person_id>/export/", views.person_export, name="person_export"),
    path("dpo/persons/<int:person_id>/export.json", views.person_export_json,
         name="person_export_json"),
    path("dpo/persons/<int:person_id>/erase/", views.person_erase, name="person_erase"),
]
