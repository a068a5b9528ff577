from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TelecareConfig(AppConfig):
    name = "entraide.telecare"
    label = "telecare"
    verbose_name = _("Telecare")
