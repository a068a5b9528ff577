"""Screening's domain: what the command and the pages call."""

from __future__ import annotations

from . import feeds
from .models import Source


def purge() -> dict[str, list[str]]:
    """Delete every source's feed months past its retention; returns them by source."""
    return {source.code: feeds.purge(source.code, source.retention_days)
            for source in Source.objects.all()}
