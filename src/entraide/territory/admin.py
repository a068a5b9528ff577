"""Configuration of the map in the admin: the teams' offices, where days of visits start.

Crisis rules, visit frequencies and services have their own pages (managers, team leads);
crisis levels and visits concern households and are read through the secrecy policy only.
"""

from django.contrib import admin

from .models import Office


@admin.register(Office)
class OfficeAdmin(admin.ModelAdmin):
    list_display = ("name", "team", "address", "opens", "closes")
    fields = ("team", "name", "address", "latitude", "longitude", "opens", "closes")
    list_select_related = ("team",)
