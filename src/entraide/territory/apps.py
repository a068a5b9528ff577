from django.apps import AppConfig


class TerritoryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "entraide.territory"
    verbose_name = "Territory"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (keeps crisis levels in step with their causes)
