"""Configuration of telecare in the admin: thresholds, devices, notification channels.

Who lives in a home and whom to call are personal data, read only through the secrecy
policy: the admin shows an installation's household by number, and not its contacts.
"""

from django.contrib import admin

from .models import Device, Installation, NotificationChannel


class DeviceInline(admin.TabularInline):
    model = Device
    fields = ("code", "kind", "friendly_name", "label")
    extra = 0


@admin.register(Installation)
class InstallationAdmin(admin.ModelAdmin):
    list_display = ("code", "territory", "active", "installed_at", "profile_learned_at")
    list_filter = ("active", "territory")
    search_fields = ("code",)
    readonly_fields = ("household_id", "installed_at", "profile", "profile_learned_at")
    fieldsets = (
        (None, {"fields": ("code", "household_id", "territory", "active", "installed_at")}),
        ("Rules", {"fields": (
            "inactivity_floor_minutes", "inactivity_ceiling_minutes", "night_start",
            "night_end", "cold_below", "heat_above", "temperature_minutes", "silence_minutes",
            "battery_low", "escalation_seconds")}),
        ("Learned habits", {"fields": ("profile", "profile_learned_at")}),
    )
    inlines = [DeviceInline]

    def has_add_permission(self, request: object) -> bool:
        return False  # a home is set up for a person, through the services


@admin.register(NotificationChannel)
class NotificationChannelAdmin(admin.ModelAdmin):
    list_display = ("label", "organisation", "min_severity", "active")
