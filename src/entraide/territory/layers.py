"""The welfare map's layers as GeoJSON: households by crisis level (points, or clusters when
the view holds too many), counts per commune for managers, commune boundaries.

Points come only from `policy.map_scope`; managers get counts per commune with small counts
suppressed. Each layer read is one audit record, not one per household.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from django.db.models import (
    Avg,
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    Max,
    Q,
    QuerySet,
    Value,
)
from django.utils.translation import gettext as _

from entraide.org.services import organisation_of
from entraide.secrecy import policy
from entraide.secrecy.models import AuditAction
from entraide.secrecy.policy import Actor

from . import crisis
from .models import LEVEL_COLOURS, Commune, CrisisLevel

# Above this many households in view, the layer sends clusters instead of points.
POINT_LIMIT = 1500
# Counts below this are never shown to someone without need-to-know.
SMALL_COUNT = 3


@dataclass(frozen=True)
class MapFilters:
    """What the map is asked to show."""

    levels: tuple[int, ...] = ()
    territory_id: int | None = None
    team_id: int | None = None
    open_alert: bool = False
    waiting_lead: bool = False
    bbox: tuple[float, float, float, float] | None = None  # west, south, east, north
    zoom: int = 10
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, params: Any) -> MapFilters:
        """Read filters from query parameters; anything malformed is refused with a reason."""
        def number(name: str) -> int | None:
            raw = (params.get(name) or "").strip()
            if not raw:
                return None
            if not raw.isdigit():
                label = {"territory": _("territory"), "team": _("team"),
                         "zoom": _("zoom")}.get(name, name)
                raise ValueError(_("%(name)s must be a number.") % {"name": label})
            return int(raw)

        levels: list[int] = []
        for raw in params.getlist("level") if hasattr(params, "getlist") else []:
            for part in str(raw).split(","):
                if part.strip():
                    if part.strip() not in {"1", "2", "3", "4"}:
                        raise ValueError(_("A crisis level is a number from 1 to 4."))
                    levels.append(int(part))
        raw_bbox = (params.get("bbox") or "").strip()
        bbox = parse_bbox(raw_bbox) if raw_bbox else None
        zoom = number("zoom")
        return cls(levels=tuple(sorted(set(levels))), territory_id=number("territory"),
                   team_id=number("team"), open_alert=params.get("alert") in ("1", "on"),
                   waiting_lead=params.get("lead") in ("1", "on"), bbox=bbox,
                   zoom=min(max(zoom if zoom is not None else 10, 0), 20))

    def describe(self) -> str:
        parts = [f"levels={','.join(map(str, self.levels))}" if self.levels else "",
                 f"territory={self.territory_id}" if self.territory_id else "",
                 f"team={self.team_id}" if self.team_id else "",
                 "alert" if self.open_alert else "", "lead" if self.waiting_lead else "",
                 f"zoom={self.zoom}"]
        return " ".join(p for p in parts if p)


def parse_bbox(raw: str) -> tuple[float, float, float, float]:
    """A `west,south,east,north` box in degrees, as map clients send it."""
    try:
        west, south, east, north = (float(v) for v in raw.split(","))
    except ValueError:
        raise ValueError(_("bbox is west,south,east,north in degrees.")) from None
    if not (all(map(math.isfinite, (west, south, east, north)))
            and -180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise ValueError(_("bbox is west,south,east,north in degrees."))
    return west, south, east, north


def _filtered(levels: QuerySet[CrisisLevel], filters: MapFilters) -> QuerySet[CrisisLevel]:
    if filters.levels:
        levels = levels.filter(level__in=filters.levels)
    if filters.territory_id:
        levels = levels.filter(territory_id=filters.territory_id)
    if filters.team_id:
        levels = levels.filter(team_id=filters.team_id)
    if filters.open_alert:
        levels = levels.filter(open_alert=True)
    if filters.waiting_lead:
        levels = levels.filter(waiting_lead=True)
    if filters.bbox:
        west, south, east, north = filters.bbox
        return levels.filter(longitude__range=(west, east), latitude__range=(south, north))
    return levels.filter(latitude__isnull=False, longitude__isnull=False)


def _collection(features: list[dict[str, Any]], **properties: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features, "properties": properties}


def _point(longitude: float, latitude: float, properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "properties": properties,
            "geometry": {"type": "Point", "coordinates": [round(longitude, 6),
                                                          round(latitude, 6)]}}


def households(actor: Actor, filters: MapFilters) -> dict[str, Any]:
    """The households the actor follows, coloured by crisis level: points, or clusters of a
    grid sized to the zoom when more than `POINT_LIMIT` are in view."""
    policy.guard_role(actor, actor.user.role in policy.FILE_ROLES, "map_layer")
    scoped = _filtered(CrisisLevel.objects.filter(policy.map_layer_scope(actor.user)), filters)
    # One pass gives both the clusters and how many households are in view.
    clusters = _clusters(scoped, filters.zoom)
    total = sum(c["properties"]["count"] for c in clusters)
    if total <= POINT_LIMIT:
        features = [
            _point(cast(float, lon), cast(float, lat), {
                "kind": "household", "id": household_id, "level": level,
                "colour": LEVEL_COLOURS[level], "alert": alert, "lead": lead,
                "reasons": crisis.summary(level, reasons)["reasons"]})
            for household_id, lat, lon, level, reasons, alert, lead in scoped.values_list(
                "household_id", "latitude", "longitude", "level", "reasons", "open_alert",
                "waiting_lead").order_by("level", "household_id")]
    else:
        features = clusters
    policy.record(actor, AuditAction.READ, "map_layer",
                  detail=f"{total} households {filters.describe()}")
    return _collection(features, total=total, clustered=total > POINT_LIMIT)


def _clusters(scoped: QuerySet[CrisisLevel], zoom: int) -> list[dict[str, Any]]:
    # Cells about 64 px wide at this zoom: 256 px tiles, 2**zoom tiles around the world.
    cell = 360 / (2 ** zoom) / 4
    rows = (scoped.annotate(cx=CellIndex("longitude", cell), cy=CellIndex("latitude", cell))
            .values("cx", "cy")
            # Counting `level`, not the key, lets SQLite answer from the index alone.
            .annotate(n=Count("level"), lat=Avg("latitude"), lon=Avg("longitude"),
                      top=Max("level"),
                      **{f"l{lv}": Count("level", filter=Q(level=lv)) for lv in (1, 2, 3, 4)})
            .order_by())
    return [_point(row["lon"], row["lat"], {
        "kind": "cluster", "count": row["n"], "level": row["top"],
        "colour": LEVEL_COLOURS[row["top"]],
        "levels": {str(lv): row[f"l{lv}"] for lv in (1, 2, 3, 4)}}) for row in rows]


class CellIndex(Func):
    """Which grid cell of `size` degrees a coordinate falls in, counted from -180° so it is
    never negative: SQLite truncates with CAST (its FLOOR would call Python for every row),
    PostgreSQL floors (its CAST would round)."""

    output_field = IntegerField()
    template = "FLOOR(%(expressions)s)"

    def __init__(self, field_name: str, size: float) -> None:
        super().__init__((F(field_name) + Value(180.0)) / Value(size, output_field=FloatField()))

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="CAST(%(expressions)s AS INTEGER)",
                           **extra)


def suppress(counts: dict[str, int]) -> dict[str, int | None]:
    """Hide counts under `SMALL_COUNT`, and one more when only one is hidden, so that no
    hidden count can be found back from the total (for cells of at least `SMALL_COUNT`
    households: smaller ones are not shown at all)."""
    shown: dict[str, int | None] = {k: (v if v == 0 or v >= SMALL_COUNT else None)
                                    for k, v in counts.items()}
    hidden = [k for k, v in shown.items() if v is None]
    if len(hidden) == 1:
        others = sorted((v, k) for k, v in counts.items() if k not in hidden and v > 0)
        if others:
            shown[others[0][1]] = None
    return shown


def cells(actor: Actor, filters: MapFilters) -> dict[str, Any]:
    """Households per commune and crisis level, for managers: cells of fewer than
    `SMALL_COUNT` households are left out, small counts within a cell hidden."""
    user = actor.user
    policy.guard_role(actor, policy.can_see_aggregates(user), "map_cells")
    organisation_id = organisation_of(user)
    levels = _filtered(CrisisLevel.objects.filter(
        territory__organisation_id=organisation_id or 0), filters)
    if user.territory_id is not None:  # a lead, or a manager of one territory
        levels = levels.filter(territory_id=user.territory_id)
    rows = (levels.values("territory_id", "household__commune")
            .annotate(n=Count("pk"), lat=Avg("latitude"), lon=Avg("longitude"),
                      **{f"l{lv}": Count("pk", filter=Q(level=lv)) for lv in (1, 2, 3, 4)})
            .order_by("territory_id", "household__commune"))
    boundaries = {(c.territory_id, c.name): c.boundary for c in Commune.objects.all()}
    features, hidden = [], 0
    for row in rows:
        if row["n"] < SMALL_COUNT:
            hidden += 1
            continue
        counts = suppress({str(lv): row[f"l{lv}"] for lv in (1, 2, 3, 4)})
        geometry = boundaries.get((row["territory_id"], row["household__commune"]))
        properties = {"kind": "cell", "name": row["household__commune"], "count": row["n"],
                      "levels": counts, "centre": [round(row["lon"], 5), round(row["lat"], 5)]}
        if geometry is not None:
            features.append({"type": "Feature", "properties": properties,
                             "geometry": geometry})
        else:
            features.append(_point(row["lon"], row["lat"], properties))
    policy.record(actor, AuditAction.READ, "map_cells",
                  detail=f"{len(features)} cells shown, {hidden} hidden {filters.describe()}")
    return _collection(features, hidden_cells=hidden, small_count=SMALL_COUNT)


def communes(territory_ids: Iterable[int] | None = None) -> dict[str, Any]:
    """Commune boundaries: drawn under the points so the map reads without tiles."""
    rows = Commune.objects.all()
    if territory_ids is not None:
        rows = rows.filter(territory_id__in=list(territory_ids))
    return _collection([{"type": "Feature", "geometry": c.boundary,
                         "properties": {"kind": "commune", "name": c.name, "code": c.code}}
                        for c in rows.order_by("name")])
