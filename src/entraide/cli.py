"""The `entraide` console script: Django's manage.py with Entraide's settings."""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Run a management command (`entraide migrate`, `entraide seed`, `entraide bench cases`)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "entraide.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
