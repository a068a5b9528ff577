from django.urls import path

from . import views

app_name = "cases"

urlpatterns = [
    path("", views.home, name="home"),
    path("caseload/", views.caseload, name="caseload"),
    path("households/<int:household_id>/", views.household, name="household"),
    path("households/<int:household_id>/emergency/", views.emergency_access,
         name="emergency_access"),
    path("case-files/<int:case_file_id>/timeline/", views.timeline, name="timeline"),
    path("case-files/<int:case_file_id>/notes/new/", views.new_note, name="new_note"),
    path("case-files/<int:case_file_id>/assessment/", views.assessment, name="assessment"),
    path("case-files/<int:case_file_id>/plan/", views.plan, name="plan"),
    path("case-files/<int:case_file_id>/edit/", views.edit_case_file, name="edit_case_file"),
    path("case-files/<int:case_file_id>/referrals/new/", views.new_referral, name="new_referral"),
    path("notes/<int:note_id>/correct/", views.correct_note, name="correct_note"),
    path("goals/<int:goal_id>/status/", views.goal_status, name="goal_status"),
    path("goals/<int:goal_id>/actions/new/", views.new_action, name="new_action"),
    path("actions/<int:action_id>/edit/", views.edit_action, name="edit_action"),
    path("referrals/<int:referral_id>/status/", views.referral_status, name="referral_status"),
    path("search/", views.search, name="search"),
    path("overview/", views.overview, name="overview"),
    path("monitoring/", views.monitoring, name="monitoring"),
]
