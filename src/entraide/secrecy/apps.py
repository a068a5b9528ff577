from typing import Any

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _truncate_sqlite_log(using: str = "default", **kwargs: Any) -> None:
    """Empty SQLite's write-ahead log after migrations: its frames keep the pages as they
    were before the last writes, clear texts included, until they are overwritten."""
    connection = connections[using]
    if connection.vendor == "sqlite" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class SecrecyConfig(AppConfig):
    name = "entraide.secrecy"
    label = "secrecy"
    verbose_name = _("Professional secrecy")

    def ready(self) -> None:
        post_migrate.connect(_truncate_sqlite_log, sender=self,
                             dispatch_uid="secrecy.truncate_sqlite_log")
