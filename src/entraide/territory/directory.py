"""The service directory: public services, associations, health services and citizen
activities that households can be sent to, searched by need and distance, and the referral
from a case file in one click.

Services hold no personal data: every agent may search them and reading them is not
audited. What is personal is the household's place and needs when a search starts from its
case file (`near_case_file`, audited as a read of the file) and the referral itself
(audited by `cases.services.add_referral`).

A search narrows in SQL by what the database does the same way everywhere (organisation,
category, a bounding box around the point), then checks needs, words and the exact
great-circle distance in Python: JSON containment and accent-insensitive matching differ
between SQLite and PostgreSQL, and thousands of short rows take milliseconds to scan.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext as _

from entraide import french
from entraide.cases import services as cases
from entraide.cases.models import Domain, DomainLevel, Referral
from entraide.org.services import organisation_of
from entraide.secrecy import policy
from entraide.secrecy.policy import Actor

from .layers import parse_bbox
from .models import Service, ServiceCategory
from .routing import EARTH_RADIUS_KM
from .routing import haversine_km as distance_km

# A domain at this level or above (difficulty, crisis) is a need to find a service for.
NEED_LEVEL = 3
MAX_RADIUS_KM = 500.0
# Fields a lead or manager may set; `organisation` comes from who creates the service.
EDITABLE = ("name", "category", "needs", "description", "eligibility", "opening_hours",
            "address", "postcode", "commune", "latitude", "longitude", "phone", "email",
            "website", "active")
_TEXT_FIELDS = ("name", "commune", "postcode", "address", "description", "eligibility")
# Folding accents is the dearest step of a search through thousands of services; the same
# names and texts come back request after request.
_folded = functools.lru_cache(maxsize=20_000)(french.fold)


# --- geometry ------------------------------------------------------------------------------

def bounding_box(centre: tuple[float, float], radius_km: float
                 ) -> tuple[float, float, float, float]:
    """West, south, east, north of a box that holds every point within `radius_km` of the
    centre: a cheap SQL prefilter before the exact distance."""
    lat, lon = centre
    dlat = math.degrees(radius_km / EARTH_RADIUS_KM)
    # Near the poles a degree of longitude shrinks to nothing: take the whole circle.
    cos_lat = math.cos(math.radians(min(abs(lat) + dlat, 90.0)))
    dlon = 180.0 if cos_lat < 1e-6 else min(180.0, dlat / cos_lat)
    return (max(-180.0, lon - dlon), max(-90.0, lat - dlat),
            min(180.0, lon + dlon), min(90.0, lat + dlat))


# --- what is asked ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ServiceQuery:
    """What a search or the map layer asks for; every part is optional."""

    needs: tuple[str, ...] = ()
    category: str = ""
    text: str = ""
    near: tuple[float, float] | None = None  # latitude, longitude
    radius_km: float | None = None
    bbox: tuple[float, float, float, float] | None = None  # west, south, east, north

    @classmethod
    def build(cls, needs: Iterable[str] = (), category: str = "", text: str = "",
              lat: float | None = None, lon: float | None = None,
              radius_km: float | None = None, bbox: str = "") -> ServiceQuery:
        """Check and assemble a query; anything malformed is refused with a reason."""
        codes: list[str] = []
        for raw in needs:
            codes.extend(part.strip() for part in str(raw).split(",") if part.strip())
        unknown = sorted(set(codes) - set(Domain.values))
        if unknown:
            raise ValueError(_("Unknown need: %(codes)s. Needs are: %(known)s.")
                             % {"codes": ", ".join(unknown), "known": ", ".join(Domain.values)})
        if category and category not in ServiceCategory.values:
            raise ValueError(_("Unknown category: %(category)s. Categories are: %(known)s.")
                             % {"category": category,
                                "known": ", ".join(ServiceCategory.values)})
        near = None
        if (lat is None) != (lon is None):
            raise ValueError(_("Give both lat and lon to search around a point."))
        if lat is not None and lon is not None:
            check_coordinates(lat, lon)
            near = (lat, lon)
        if radius_km is not None and not (math.isfinite(radius_km)
                                          and 0 < radius_km <= MAX_RADIUS_KM):
            raise ValueError(_("The radius is a number of kilometres, above 0 and at most "
                               "%(max)d.") % {"max": MAX_RADIUS_KM})
        return cls(needs=tuple(dict.fromkeys(codes)), category=category,
                   text=text.strip()[:200], near=near, radius_km=radius_km,
                   bbox=parse_bbox(bbox) if bbox.strip() else None)

    @classmethod
    def parse(cls, params: Any) -> ServiceQuery:
        """Read a query from request parameters: need (repeated or comma-separated),
        category, q, lat, lon, radius (km), bbox."""
        def number(name: str) -> float | None:
            raw = (params.get(name) or "").strip().replace(",", ".")
            if not raw:
                return None
            try:
                return float(raw)
            except ValueError:
                label = {"lat": _("latitude"), "lon": _("longitude"),
                         "radius": _("radius (km)")}.get(name, name)
                raise ValueError(_("%(name)s must be a number.") % {"name": label}) from None

        needs = params.getlist("need") if hasattr(params, "getlist") else params.get("need", ())
        return cls.build(needs=needs, category=(params.get("category") or "").strip(),
                         text=params.get("q") or "", lat=number("lat"), lon=number("lon"),
                         radius_km=number("radius"), bbox=params.get("bbox") or "")

    def around(self, point: tuple[float, float] | None, radius_km: float | None
               ) -> ServiceQuery:
        """The same query measured from another point (a household's home)."""
        return ServiceQuery(self.needs, self.category, self.text, point,
                            radius_km if point else None, self.bbox)


def _latitude_problem(lat: float) -> str | None:
    if math.isfinite(lat) and -90 <= lat <= 90:
        return None
    return _("Latitude is in degrees, between -90 and 90 (44.64 for example).")


def _longitude_problem(lon: float) -> str | None:
    if math.isfinite(lon) and -180 <= lon <= 180:
        return None
    return _("Longitude is in degrees, between -180 and 180 (0.51 for example).")


def check_coordinates(lat: float, lon: float) -> None:
    """Refuse a point that is not on Earth, saying what a valid one looks like."""
    problem = _latitude_problem(lat) or _longitude_problem(lon)
    if problem:
        raise ValueError(problem)


# --- search ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Found:
    """A service that matches, how far it is (None without a point or coordinates) and
    which of the asked needs it covers."""

    service: Service
    distance_km: float | None
    matched_needs: tuple[str, ...]


@dataclass(frozen=True)
class SearchPage:
    """One page of results and how many match in all."""

    items: list[Found]
    total: int
    limit: int
    offset: int

    @property
    def has_next(self) -> bool:
        return self.offset + self.limit < self.total


def _candidates(query: ServiceQuery, organisation_id: int | None) -> QuerySet[Service]:
    if organisation_id is None:
        return Service.objects.none()
    # Sorted in Python, after the exact distance: no ORDER BY.
    services = Service.objects.filter(organisation_id=organisation_id, active=True).order_by()
    if query.category:
        services = services.filter(category=query.category)
    boxes = [query.bbox] if query.bbox else []
    if query.near and query.radius_km:
        boxes.append(bounding_box(query.near, query.radius_km))
    for west, south, east, north in boxes:
        services = services.filter(latitude__range=(south, north),
                                   longitude__range=(west, east))
    return services


def _matching(query: ServiceQuery, organisation_id: int | None, fields: Sequence[str] = ()
              ) -> Iterator[tuple[dict[str, Any], float | None, tuple[str, ...]]]:
    """Rows (with `fields`) of the services that match, their distance and matched needs,
    in no particular order."""
    wanted = set(query.needs)
    words = french.words(query.text)
    columns = {"pk", "name", "needs", "latitude", "longitude", *fields}
    if words:
        columns.update(_TEXT_FIELDS)
    for row in _candidates(query, organisation_id).values(*sorted(columns)).iterator(
            chunk_size=2000):
        needs = row["needs"] if isinstance(row["needs"], list) else []
        matched = tuple(n for n in query.needs if n in needs)
        if wanted and not matched:
            continue
        if words:
            haystack = _folded(" ".join(str(row[f] or "") for f in _TEXT_FIELDS))
            if not all(word in haystack for word in words):
                continue
        distance = None
        if query.near and row["latitude"] is not None and row["longitude"] is not None:
            distance = distance_km(query.near, (row["latitude"], row["longitude"]))
        if query.near and query.radius_km and (distance is None
                                               or distance > query.radius_km):
            continue
        yield row, distance, matched


def search(query: ServiceQuery, organisation_id: int | None, limit: int = 20,
           offset: int = 0) -> SearchPage:
    """Active services matching the query: nearest first around a point (those without
    coordinates last), otherwise those covering most of the asked needs first, then by name."""
    rows = list(_matching(query, organisation_id))
    if query.near:
        rows.sort(key=lambda r: (r[1] is None, r[1] or 0.0, _folded(r[0]["name"])))
    else:
        rows.sort(key=lambda r: (-len(r[2]), _folded(r[0]["name"]), r[0]["pk"]))
    page = rows[offset:offset + limit]
    services = Service.objects.in_bulk([r[0]["pk"] for r in page])
    return SearchPage([Found(services[r[0]["pk"]], r[1], r[2]) for r in page],
                      len(rows), limit, offset)


def get_service(service_id: int, organisation_id: int | None) -> Service:
    """One service of the organisation's directory, active or not."""
    service = (Service.objects.filter(pk=service_id, organisation_id=organisation_id).first()
               if organisation_id is not None else None)
    if service is None:
        raise Http404(_("No service with this number."))
    return service


def need_labels(codes: Iterable[str]) -> list[str]:
    """The words for need codes, in the order of the case file's domains."""
    chosen = set(codes)
    return [str(label) for value, label in Domain.choices if value in chosen]


# --- from a case file ----------------------------------------------------------------------

@dataclass(frozen=True)
class CaseFileContext:
    """What a search started from a case file uses: where the household lives and the
    domains where it is in difficulty or crisis, most pressing first."""

    case_file_id: int
    household_id: int
    commune: str
    point: tuple[float, float] | None
    needs: tuple[str, ...]


def near_case_file(actor: Actor, case_file_id: int) -> CaseFileContext:
    """The household's coordinates and its needs (domains at level 3 or 4 in its current
    assessment), read under need-to-know with one audit record."""
    case_file = policy.open_case_file(actor, case_file_id)
    household = case_file.household
    # Partial assessments keep earlier levels: the current level is the latest per domain.
    current: dict[str, int] = {}
    for domain, level in (DomainLevel.objects.filter(assessment__case_file=case_file)
                          .order_by("assessment__created_at", "assessment_id")
                          .values_list("domain", "level")):
        current[domain] = level
    order = {code: i for i, code in enumerate(Domain.values)}
    needs = sorted((d for d, lv in current.items() if lv >= NEED_LEVEL),
                   key=lambda d: (-current[d], order.get(d, 99)))
    point = None
    if household.latitude is not None and household.longitude is not None:
        point = (household.latitude, household.longitude)
    return CaseFileContext(case_file.pk, household.pk, household.commune, point, tuple(needs))


def refer(actor: Actor, case_file_id: int, service_id: int, reason: str = "",
          needs: Iterable[str] = ()) -> Referral:
    """Refer the household to a service of the directory; without a reason, the reason
    names the needs searched for that the service covers."""
    policy.guard_case_file(actor, case_file_id)
    service = get_service(service_id, organisation_of(actor.user))
    if not service.active:
        raise ValueError(_("%(name)s is no longer in the directory.") % {"name": service.name})
    reason = reason.strip()
    if not reason:
        covered = [n for n in needs if n in service.needs] or list(service.needs)
        labels = need_labels(covered)
        reason = (_("%(needs)s — found in the service directory")
                  % {"needs": ", ".join(labels)} if labels
                  else _("Found in the service directory"))
    return cases.add_referral(actor, case_file_id, service.name, reason[:1000])


# --- keeping the directory current ---------------------------------------------------------

class InvalidService(ValueError):
    """A service that cannot be saved; `errors` says why, field by field."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__(" ".join(m for messages in errors.values() for m in messages))


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def validate(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Check a service's fields and return them cleaned; raise InvalidService with one
    message per problem, in words a team lead can act on."""
    errors: dict[str, list[str]] = {}

    def refuse(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    cleaned: dict[str, Any] = {}
    for name in ("name", "description", "eligibility", "opening_hours", "address",
                 "postcode", "commune", "phone", "email", "website"):
        value = _text(fields.get(name))
        limit = getattr(Service._meta.get_field(name), "max_length", None)
        if limit and len(value) > limit:
            refuse(name, _("At most %(n)d characters.") % {"n": limit})
        cleaned[name] = value
    if not cleaned["name"]:
        refuse("name", _("Give the service's name."))

    cleaned["category"] = _text(fields.get("category"))
    if cleaned["category"] not in ServiceCategory.values:
        refuse("category", _("Choose a category: %(known)s.")
               % {"known": ", ".join(str(label) for label in ServiceCategory.labels)})

    raw_needs = fields.get("needs") or []
    needs = [raw_needs] if isinstance(raw_needs, str) else [str(n) for n in raw_needs]
    unknown = sorted(set(needs) - set(Domain.values))
    if unknown:
        refuse("needs", _("Unknown need: %(codes)s. Needs are the case file's domains: "
                          "%(known)s.") % {"codes": ", ".join(unknown),
                                          "known": ", ".join(Domain.values)})
    elif not needs:
        refuse("needs", _("Choose at least one need this service helps with: it is how "
                          "workers find it."))
    cleaned["needs"] = [code for code in Domain.values if code in needs]

    lat, lon = fields.get("latitude"), fields.get("longitude")
    cleaned["latitude"] = cleaned["longitude"] = None
    if (lat is None) != (lon is None):
        refuse("latitude", _("Give both latitude and longitude, or neither (the service is "
                             "then neither on the map nor found by distance)."))
    elif lat is not None and lon is not None:
        try:
            cleaned["latitude"], cleaned["longitude"] = (
                float(str(lat).replace(",", ".")), float(str(lon).replace(",", ".")))
        except (TypeError, ValueError):
            refuse("latitude", _("Latitude and longitude are numbers of degrees."))
        else:
            for name, problem in (("latitude", _latitude_problem(cleaned["latitude"])),
                                  ("longitude", _longitude_problem(cleaned["longitude"]))):
                if problem:
                    refuse(name, problem)

    if cleaned["email"]:
        try:
            validate_email(cleaned["email"])
        except ValidationError:
            refuse("email", _("Enter an e-mail address such as accueil@ccas.fr."))
    if cleaned["website"]:
        try:
            URLValidator(schemes=["http", "https"])(cleaned["website"])
        except ValidationError:
            refuse("website", _("Enter a web address starting with https://."))
    cleaned["active"] = bool(fields.get("active", True))
    if errors:
        raise InvalidService(errors)
    return cleaned


def guard_editor(actor: Actor) -> None:
    """Refuse, with an audit record, anyone but team leads and managers."""
    policy.guard_role(actor, policy.can_edit_directory(actor.user), "service")


def save_service(actor: Actor, fields: Mapping[str, Any], service_id: int | None = None
                 ) -> Service:
    """Add a service to the directory, or change one (the last save wins: services hold no
    personal data and are rarely edited by two people at once)."""
    guard_editor(actor)
    cleaned = validate(fields)
    organisation_id = organisation_of(actor.user)
    if service_id is None:
        if organisation_id is None:
            raise ValueError(_("There is no organisation to add this service to."))
        return Service.objects.create(organisation_id=organisation_id, **cleaned)
    service = get_service(service_id, organisation_id)
    for name, value in cleaned.items():
        setattr(service, name, value)
    service.save()
    return service


# --- on the map ------------------------------------------------------------------------------

def services_geojson(query: ServiceQuery, organisation_id: int | None) -> dict[str, Any]:
    """The services layer of the welfare map: a GeoJSON FeatureCollection of the matching
    services that have coordinates."""
    # One reverse() for all features: thousands of services are drawn at once.
    url = reverse("territory:service", args=[987654321]).replace("987654321", "{}")
    categories = {value: str(label) for value, label in ServiceCategory.choices}
    rows = sorted(_matching(query, organisation_id,
                            ("category", "opening_hours", "phone", "commune")),
                  key=lambda r: r[0]["pk"])
    features = [
        {"type": "Feature",
         "geometry": {"type": "Point", "coordinates": [round(row["longitude"], 6),
                                                       round(row["latitude"], 6)]},
         "properties": {"kind": "service", "id": row["pk"], "name": row["name"],
                        "category": row["category"],
                        "category_label": categories.get(row["category"], ""),
                        "needs": row["needs"], "opening_hours": row["opening_hours"],
                        "phone": row["phone"], "commune": row["commune"],
                        "url": url.format(row["pk"])}}
        for row, _distance, _matched in rows
        if row["latitude"] is not None and row["longitude"] is not None]
    return {"type": "FeatureCollection", "features": features,
            "properties": {"total": len(features)}}
