"""Pages about the agent themself: their notices."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from entraide.secrecy.emergency import notices_for


@login_required
@require_GET
def notices(request: HttpRequest) -> HttpResponse:
    """What the agent was told: emergency accesses to files they answer for."""
    return render(request, "org/notices.html",
                  {"notices": notices_for(request.user)})  # type: ignore[arg-type]
