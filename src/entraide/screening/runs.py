"""A screening run: score every household, send the leads to their teams, report how good
and how fair the scores are.

A lead is a prompt for a worker to go and see a household nobody follows yet — never a
decision about it. Households already in an open case file are never leads. Each lead
carries the indicators that explain it. The run keeps its figures, its evaluation (when a
truth or recorded outcomes exist) and a bias report by territory, age band and household
type. The features of the leads are kept beside the run, so that the outcomes recorded on
them train the next model (`train`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from entraide.org.models import Team, Territory
from entraide.secrecy import policy
from entraide.secrecy.models import AuditAction
from entraide.secrecy.policy import Actor

from . import engines, feeds, learning, pipeline, services, synth
from .models import Lead, Outcome, ScreeningRun, Source

MODELS = ("scorecard", "learned")
DEFAULT_THRESHOLD = {"scorecard": 8.0, "learned": 0.5}
LABELS = {Outcome.CASE_OPENED: 1, Outcome.NOT_IN_NEED: 0}  # refused, unreachable: no label
MIN_LABELS = 200
BIAS_GROUPS = ("territory", "age_band", "household_type")


class RunRefused(Exception):
    """The run cannot be made as asked; the message says why."""


def registry() -> list[pipeline.Feed]:
    """The active sources and their indicators, as the pipeline reads them."""
    sources = Source.objects.filter(active=True).prefetch_related("indicators").order_by("code")
    return [pipeline.Feed(s.code, s.key_kind, s.refresh_days, tuple(
        pipeline.Column(s.code, i.code, i.label, i.threshold, i.points, i.explanation)
        for i in s.indicators.all())) for s in sources]


def runs_dir() -> Path:
    return Path(settings.ENTRAIDE_SCREENING_DIR) / "runs"


def lead_features_path(run_id: int) -> Path:
    """The features of a run's leads, kept for training on their outcomes."""
    return runs_dir() / str(run_id) / "leads.parquet"


def _score(engine: engines.ScreeningEngine, population: pa.Table, as_of: dt.date,
           model: learning.Model | None) -> pipeline.Scored:
    return pipeline.score(engine, feeds=feeds.feeds_dir(), population=population,
                          link_keys=services.link_keys(), registry=registry(), as_of=as_of,
                          model=model)


def _teams(population: pa.Table) -> np.ndarray:
    """The team each household's lead goes to: that of its last case file, else the first
    team of its territory (0 when the territory has none)."""
    first: dict[int, int] = {}
    for territory_id, team_id in Team.objects.order_by("pk").values_list("territory_id", "pk"):
        first.setdefault(territory_id, team_id)
    last = population["team_id"].to_pylist()
    territories = population["territory_id"].to_pylist()
    return np.array([team or first.get(territory, 0)
                     for team, territory in zip(last, territories, strict=True)], np.int64)


def select(score: np.ndarray, eligible: np.ndarray, teams: np.ndarray,
           threshold: float | None, leads_per_team: int | None) -> np.ndarray:
    """Row indexes of the leads, best first: eligible households scoring at least the
    threshold (above 0 in any case), at most `leads_per_team` per team."""
    wanted = eligible & (score > 0)  # nothing reported, nothing to go and see
    if threshold is not None:
        wanted &= score >= threshold
    candidates = np.flatnonzero(wanted)
    candidates = candidates[np.lexsort((candidates, -score[candidates]))]
    if leads_per_team is None:
        return candidates
    taken: dict[int, int] = defaultdict(int)
    chosen = []
    for row in candidates:
        if taken[teams[row]] < leads_per_team:
            taken[teams[row]] += 1
            chosen.append(row)
    return np.array(chosen, dtype=np.int64)


def run(actor: Actor, *, engine_name: str = "duckdb", model: str = "scorecard",
        leads_per_team: int | None = None, threshold: float | None = None,
        as_of: dt.date | None = None) -> ScreeningRun:
    """Score every household, create the run and its leads; see the module's docstring."""
    if model not in MODELS:
        raise RunRefused(f"unknown model {model!r}: scorecard or learned")
    started, clock = timezone.now(), time.perf_counter()
    as_of = as_of or dt.date.today()
    if threshold is None and leads_per_team is None:
        threshold = DEFAULT_THRESHOLD[model]
    learned = learning.latest()
    if model == "learned" and learned is None:
        raise RunRefused("no learned model yet: train one (entraide screening run --train) "
                         "or choose the scorecard")
    services.refresh_link_keys(actor)  # households moved or newly known since the last run
    population = services.population(as_of)
    with engines.engine(engine_name) as engine:
        scored = _score(engine, population, as_of, learned)
        table = scored.table
        if table["household_id"].to_pylist() != population["household_id"].to_pylist():
            raise RuntimeError("the pipeline did not return one row per household")
        score = np.nan_to_num(table[model].to_numpy(zero_copy_only=False).astype(np.float64))
        eligible = ~population["open_case"].to_numpy(zero_copy_only=False)
        # A household whose earlier lead still waits for its visit is not sent twice.
        waiting = np.isin(population["household_id"].to_numpy(zero_copy_only=False),
                          np.fromiter(Lead.objects.filter(outcome="").values_list(
                              "household_id", flat=True), dtype=np.int64))
        eligible &= ~waiting
        teams = _teams(population)
        chosen = select(score, eligible, teams, threshold, leads_per_team)
        rows = pipeline.features(engine, scored, table["household_id"].take(
            pa.array(chosen, pa.int64())).to_pylist())
    if model == "learned" and learned is not None:
        reasons = learning.explain_learned(learned, rows, scored.columns)
    else:
        reasons = learning.explain_scorecard(rows, scored.columns)

    capacity = (leads_per_team * len(set(teams[eligible].tolist()) - {0})
                if leads_per_team else len(chosen))
    evaluation = {
        "run": {"as_of": as_of.isoformat(), "periods": scored.periods, "stale": scored.stale,
                "eligible": int(eligible.sum()),
                "open_case": int(population["open_case"].to_numpy(
                    zero_copy_only=False).sum()),
                "waiting_lead": int(waiting.sum()),
                "reported": int(pc.sum(pc.greater(table["reported"], 0)).as_py() or 0),
                "selection": {"threshold": threshold, "leads_per_team": leads_per_team},
                "seconds": round(time.perf_counter() - clock, 2)},
        "model": _model_figures(learned, scored.columns),
        **_evaluations(table, eligible, learned, max(capacity, 1)),
    }
    bias = bias_report(population, eligible, chosen, _truth(table))

    with transaction.atomic():
        screening = ScreeningRun.objects.create(
            engine=engine_name, model=model, households=table.num_rows, leads=len(chosen),
            threshold=threshold or 0.0, evaluation=evaluation, bias=bias,
            finished_at=timezone.now())
        ScreeningRun.objects.filter(pk=screening.pk).update(started_at=started)
        learned_scores = rows["learned"].to_pylist()
        Lead.objects.bulk_create([
            Lead(run=screening, household_id=household_id, territory_id=territory_id,
                 team_id=int(teams[row]) or None, score=float(score[row]),
                 scorecard=card, learned=learned_score, explanation=why)
            for row, household_id, territory_id, card, learned_score, why in zip(
                chosen.tolist(), rows["household_id"].to_pylist(),
                rows["territory_id"].to_pylist(), rows["scorecard"].to_pylist(),
                learned_scores, reasons, strict=True)], batch_size=1000)
        policy.record(actor, AuditAction.CREATE, "screening_run", screening.pk,
                      detail=f"{table.num_rows} households scored ({model}, {engine_name}), "
                             f"{len(chosen)} leads")
    path = lead_features_path(screening.pk)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(rows.drop_columns(["territory_id"]), path)
    screening.refresh_from_db()
    return screening


def _model_figures(model: learning.Model | None,
                   cols: list[pipeline.Column]) -> dict[str, Any]:
    if model is None:
        return {}
    names = {c.name for c in cols}
    return {"name": model.name, "trained_at": model.trained_at, "origin": model.origin,
            "rows": model.rows, "positives": model.positives,
            "features_missing_now": [f for f in model.features if f not in names]}


def _truth(table: pa.Table) -> np.ndarray | None:
    """The synthetic truth of the scored households (demo only), or None."""
    path = synth.truth_path()
    if not path.exists():
        return None
    truth = pq.read_table(path)
    known = dict(zip(truth["household_id"].to_pylist(), truth["in_crisis"].to_pylist(),
                     strict=True))
    return np.array([known.get(h, -1) for h in table["household_id"].to_pylist()], np.int8)


def _trained_on(model: learning.Model | None) -> set[int]:
    if model is None:
        return set()
    path = learning.models_dir() / f"{model.name}.households.parquet"
    return set(pq.read_table(path)["household_id"].to_pylist()) if path.exists() else set()


def _evaluations(table: pa.Table, eligible: np.ndarray, model: learning.Model | None,
                 k: int) -> dict[str, Any]:
    """Scorecard, learned and random against the synthetic truth (households the model
    did not learn from) and against the outcomes recorded so far, when they exist."""
    out: dict[str, Any] = {}
    ids = np.asarray(table["household_id"].to_numpy())

    def scores(mask: np.ndarray) -> dict[str, np.ndarray]:
        found = {"scorecard": table["scorecard"].to_numpy()[mask]}
        if model is not None:
            found["learned"] = table["learned"].to_numpy(zero_copy_only=False)[mask]
        return found

    truth = _truth(table)
    if truth is not None:
        fresh = ~np.isin(ids, list(_trained_on(model)))
        mask = eligible & (truth >= 0) & fresh
        if mask.any():
            out["truth"] = {"origin": "synthetic truth (demonstration data)",
                            **learning.evaluate(scores(mask), truth[mask] == 1, k)}
    # Outcomes the model learned from would flatter it: only those recorded since count.
    labels = outcome_labels(after=model.trained_at if model and model.origin == "outcomes"
                            else None)
    if labels:
        mask = np.isin(ids, list(labels))
        known = np.array([labels[h] for h in ids[mask].tolist()], bool)
        out["outcomes"] = {"origin": "outcomes of visits recorded on earlier leads",
                           **outcome_counts(),
                           **(learning.evaluate(scores(mask), known, min(k, int(mask.sum())))
                              if 0 < known.sum() < len(known) else {})}
    return out


def outcome_labels(after: str | None = None) -> dict[int, int]:
    """household_id -> 1 (a case file was opened) or 0 (not in need), from the leads' last
    recorded outcome (recorded after `after`, an ISO time, when given)."""
    leads = Lead.objects.filter(outcome__in=list(LABELS)).order_by("outcome_at", "pk")
    if after:
        leads = leads.filter(outcome_at__gt=dt.datetime.fromisoformat(after))
    return {h: LABELS[Outcome(o)] for h, o in leads.values_list("household_id", "outcome")}


def outcome_counts() -> dict[str, Any]:
    counts = {value: 0 for value in Outcome.values}
    for outcome in Lead.objects.exclude(outcome="").values_list("outcome", flat=True):
        counts[outcome] += 1
    seen = counts[Outcome.CASE_OPENED] + counts[Outcome.NOT_IN_NEED]
    return {"counts": counts,
            "precision": round(counts[Outcome.CASE_OPENED] / seen, 4) if seen else None}


def bias_report(population: pa.Table, eligible: np.ndarray, chosen: np.ndarray,
                truth: np.ndarray | None) -> dict[str, Any]:
    """Lead rate by territory, age band and household type; and where it is known, the
    precision (leads in need / leads) — from the synthetic truth, and from the outcomes
    recorded on earlier leads, grouped by the households' attributes today."""
    names = dict(Territory.objects.values_list("pk", "name"))
    groups = {
        "territory": [names.get(t, str(t)) for t in population["territory_id"].to_pylist()],
        "age_band": population["age_band"].to_pylist(),
        "household_type": population["household_type"].to_pylist(),
    }
    lead = np.zeros(population.num_rows, bool)
    lead[chosen] = True
    known = outcome_labels()
    labels = np.array([known.get(h, -1) for h in population["household_id"].to_pylist()],
                      np.int8)
    report: dict[str, Any] = {"overall": _cell(eligible, lead, truth, labels,
                                                np.ones(len(labels), bool))}
    for group, values in groups.items():
        column = np.array(values, dtype=object)
        report[group] = {str(value): _cell(eligible, lead, truth, labels, column == value)
                         for value in sorted(set(values), key=str)}
    return report


def _cell(eligible: np.ndarray, lead: np.ndarray, truth: np.ndarray | None,
          labels: np.ndarray, inside: np.ndarray) -> dict[str, Any]:
    households, leads = int((eligible & inside).sum()), int((lead & inside).sum())
    cell: dict[str, Any] = {"households": households, "leads": leads,
                            "lead_rate": round(leads / households, 4) if households else None}
    if truth is not None:
        in_need = eligible & inside & (truth == 1)
        found = int((in_need & lead).sum())
        cell |= {"in_need": int(in_need.sum()), "found": found,
                 "precision": round(found / leads, 4) if leads else None,
                 "recall": round(found / int(in_need.sum()), 4) if in_need.any() else None}
    seen = labels[inside & (labels >= 0)]
    if len(seen):
        cell |= {"outcomes": len(seen), "outcome_precision": round(float(seen.mean()), 4)}
    return cell


# --- training ----------------------------------------------------------------------------

def training_set() -> tuple[pa.Table, np.ndarray]:
    """The features and labels of every lead with a telling outcome (its last one), read
    from the features kept with its run."""
    wanted: dict[int, dict[int, int]] = defaultdict(dict)
    leads = Lead.objects.filter(outcome__in=list(LABELS)).order_by("outcome_at", "pk")
    latest: dict[int, tuple[int, int]] = {}
    for run_id, household_id, outcome in leads.values_list("run_id", "household_id",
                                                           "outcome"):
        latest[household_id] = (run_id, LABELS[Outcome(outcome)])
    for household_id, (run_id, label) in latest.items():
        wanted[run_id][household_id] = label
    tables, labels = [], []
    for run_id, households in sorted(wanted.items()):
        path = lead_features_path(run_id)
        if not path.exists():
            continue
        rows = pq.read_table(path)
        rows = rows.filter(pc.is_in(rows["household_id"], pa.array(list(households),
                                                                     pa.int64())))
        tables.append(rows)
        labels += [households[h] for h in rows["household_id"].to_pylist()]
    if not tables:
        return pa.table({"household_id": pa.array([], pa.int64())}), np.zeros(0)
    return pa.concat_tables(tables, promote_options="default"), np.array(labels)


def train(seed: int = 0, as_of: dt.date | None = None) -> learning.Model:
    """Train and save the next learned model from the outcomes recorded on leads. Without
    enough of them, in a demonstration, from half of the synthetic truth: the households
    it learned from are recorded, and left out of the evaluation."""
    cols = pipeline.columns(registry())
    features = [c.name for c in cols]
    table, labels = training_set()
    if len(labels) >= MIN_LABELS and 0 < labels.sum() < len(labels):
        return learning.save(learning.train(table, labels, features, seed=seed))
    if not synth.truth_path().exists():
        raise RunRefused(f"{len(labels)} leads have a telling outcome so far; "
                         f"{MIN_LABELS} are needed, with both outcomes, to train a model")
    population = services.population(as_of)
    with engines.engine("duckdb") as engine:
        scored = _score(engine, population, as_of or dt.date.today(), None)
        truth = _truth(scored.table)
        if truth is None:
            raise RunRefused("the synthetic truth is gone")
        sample = (np.random.default_rng(seed).random(len(truth)) < 0.5) & (truth >= 0)
        ids = scored.table["household_id"].filter(pa.array(sample))
        rows = pipeline.features(engine, scored, ids.to_pylist())
    model = learning.save(learning.train(rows, truth[sample] == 1, features, seed=seed,
                                         origin="synthetic truth"))
    pq.write_table(pa.table({"household_id": ids}),
                   learning.models_dir() / f"{model.name}.households.parquet")
    return model


def due(now: dt.datetime, every_days: float) -> bool:
    """Whether a scheduled screening is due: none yet, or the last one began `every_days`
    ago or more (Korea screens every two months; sources refresh about as often)."""
    last = ScreeningRun.objects.order_by("-started_at").values_list("started_at",
                                                                    flat=True).first()
    return last is None or now - last >= dt.timedelta(days=every_days)


def scheduled(actor: Actor, now: dt.datetime, every_days: float, **options: Any
              ) -> ScreeningRun | None:
    """One turn of the schedule: when due, purge what is past retention, train a new model
    if enough outcomes were recorded since, and run; else nothing."""
    if not due(now, every_days):
        return None
    services.purge(now.date())
    if len(outcome_labels()) >= MIN_LABELS:
        train(as_of=now.date())
    return run(actor, as_of=now.date(), **options)

