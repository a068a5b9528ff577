"""Configuration of screening in the admin: the registry of sources and their indicators.

Leads, outcomes and link keys concern households: they are read through the secrecy
policy on the screening pages, never here.
"""

from django.contrib import admin

from .models import Indicator, Source


class IndicatorInline(admin.TabularInline):
    model = Indicator
    fields = ("code", "label", "kind", "minimum", "maximum", "threshold", "points",
              "explanation")
    extra = 0


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "provider", "key_kind", "refresh_days", "retention_days",
                    "active")
    list_filter = ("active", "key_kind")
    fields = ("code", "name", "provider", "key_kind", "key_column", "period_column",
              "refresh_days", "retention_days", "legal_basis", "active")
    inlines = [IndicatorInline]
