"""Administrators configure the organisation here; no personal data is registered."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import Organisation, Team, Territory, User


@admin.register(User)
class AgentAdmin(UserAdmin):
    list_display = ("username", "first_name", "last_name", "role", "team", "territory", "is_active")
    list_filter = ("role", "territory", "is_active")
    fieldsets = (*UserAdmin.fieldsets, ("Entraide", {"fields": ("role", "team", "territory")}))  # type: ignore[misc]


admin.site.register(Organisation)
admin.site.register(Territory)
admin.site.register(Team)
