"""Access-matrix rows for the service directory.

Services hold no personal data: every agent may search and read them, in any territory;
team leads and managers keep them current. Referring a household is an act on its case
file, so it follows the file's need-to-know.
"""

from __future__ import annotations

from typing import Any

from entraide.territory.models import Service

from ..access import FILE, PUBLIC, Row, _const, _obj, roles

EDITORS = roles("lead", "manager")


def _service_fields(t: Any, own: bool) -> dict[str, Any]:
    return {"name": "Épicerie solidaire", "category": "association", "needs": ["income"],
            "latitude": "44.64", "longitude": "0.51", "active": "on"}


def add_targets(t: Any) -> None:
    """Create the objects these rows point to, own territory (True) and other (False)."""
    organisation = t.world.territory_a.organisation
    for own, household in ((True, t.world.household_a), (False, t.world.household_b)):
        t.objects[("service", own)] = Service.objects.create(
            organisation=organisation, name=f"CCAS {'Nord' if own else 'Sud'}",
            category="public", needs=["income", "housing"], latitude=household.latitude,
            longitude=household.longitude)


def web_rows() -> dict[str, Row]:
    return {
        "territory:services": Row("GET", _const("/services/?need=income&q=ccas"), PUBLIC),
        "territory:service": Row("GET", _obj("services", "service"), PUBLIC),
        "territory:services_layer": Row("GET", _const("/services/layer.geojson?need=income"),
                                        PUBLIC),
        "territory:service_new": Row("POST", _const("/services/new/"), EDITORS,
                                     _service_fields),
        "territory:service_edit": Row("POST", _obj("services", "service", "edit/"), EDITORS,
                                      _service_fields),
        "territory:refer": Row(
            "POST",
            lambda t, own: f"/case-files/{t('file', own).pk}/refer/{t('service', own).pk}/",
            FILE, lambda t, own: {"need": "income"}),
    }


def api_rows() -> dict[str, Row]:
    return {
        "GET /api/v1/services": Row(
            "GET", _const("/api/v1/services?need=income&lat=44.2&lon=0.6&radius_km=10"),
            PUBLIC),
        "GET /api/v1/map/services": Row(
            "GET", _const("/api/v1/map/services?need=income,housing&bbox=0,43,1,45"), PUBLIC),
    }
