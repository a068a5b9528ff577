"""Scoring, runs and their oversight: on synthetic households whose truth is known, the
learned model finds more people in crisis than the scorecard, both beat chance, each lead
says why, Spark and DuckDB agree, and nobody already followed is sent as a lead."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.utils import timezone

from entraide.cases.models import CaseFile, CaseStatus
from entraide.org.models import Team
from entraide.people.models import Household, Membership, Person, Relationship
from entraide.screening import engines, feeds, learning, pipeline, pseudonym, runs, synth
from entraide.screening.models import Import, KeyKind, LinkKey, Outcome, ScreeningRun
from entraide.secrecy.models import AuditRecord
from entraide.secrecy.rights import system_actor

from ..factories import OrganisationFactory, TeamFactory, TerritoryFactory

AS_OF = dt.date(2026, 11, 30)
END = "2026-10"


@dataclass
class Bench:
    """Synthetic households written without the database, scored, with their truth."""

    folder: Path
    scored: pipeline.Scored
    truth: np.ndarray
    open_case: np.ndarray


def _bench(folder: Path, households: int, seed: int,
           model: learning.Model | None = None) -> Bench:
    synth.without_database(households, folder, seed=seed, end=END)
    with engines.engine("duckdb") as engine:
        scored = _score(engine, folder, model)
    truth = pq.read_table(folder / "truth.parquet").sort_by("household_id")
    population = pq.read_table(folder / "population.parquet").sort_by("household_id")
    return Bench(folder, scored, truth["in_crisis"].to_numpy(zero_copy_only=False),
                 population["open_case"].to_numpy(zero_copy_only=False))


def _score(engine: engines.ScreeningEngine, folder: Path,
           model: learning.Model | None) -> pipeline.Scored:
    return pipeline.score(engine, feeds=folder / "feeds",
                          population=folder / "population.parquet",
                          link_keys=folder / "link_keys.parquet", registry=synth.registry(),
                          as_of=AS_OF, model=model, with_features=True)


def _features() -> list[str]:
    return [column.name for column in pipeline.columns(synth.registry())]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> learning.Model:
    """A model trained on the truth of 20,000 other synthetic households."""
    sample = _bench(tmp_path_factory.mktemp("training"), 20_000, seed=100)
    return learning.train(sample.scored.table, sample.truth, _features(), seed=0,
                          origin="synthetic truth")


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory, model: learning.Model) -> Bench:
    return _bench(tmp_path_factory.mktemp("bench"), 3_000, seed=1, model=model)


# --- what the scores are worth ------------------------------------------------------------

def test_the_learned_model_finds_more_people_in_crisis_than_the_scorecard_and_both_beat_chance(
        bench: Bench) -> None:
    eligible = ~bench.open_case
    table = bench.scored.table.filter(pa.array(eligible))
    visits = 60  # what the teams can do this month
    report = learning.evaluate({"scorecard": table["scorecard"].to_numpy(),
                                "learned": table["learned"].to_numpy()},
                               bench.truth[eligible], visits)
    assert report["k"] == visits and report["positives"] == bench.truth[eligible].sum() > 30
    precision = {name: report[name]["precision_at_k"] for name in ("scorecard", "learned",
                                                                     "random")}
    assert precision["learned"] > precision["scorecard"] + 0.05
    assert precision["scorecard"] > 3 * max(precision["random"], report["base_rate"])
    assert report["learned"]["auc"] > report["scorecard"]["auc"] > 0.7
    assert 0.35 < report["random"]["auc"] < 0.65
    for name in ("scorecard", "learned", "random"):
        calibration = report[name]["calibration"]
        assert 2 <= len(calibration["bins"]) <= 10 and 0 <= calibration["error"] < 0.1
        assert report[name]["found_at_k"] == pytest.approx(precision[name] * visits, abs=0.1)


def test_the_same_data_and_seed_train_the_same_model(bench: Bench) -> None:
    table, truth = bench.scored.table, bench.truth
    first = learning.train(table, truth, _features(), seed=3, rounds=30)
    again = learning.train(table, truth, _features(), seed=3, rounds=30)
    assert first.text == again.text and first.rows == 3_000 and first.positives == truth.sum()


def test_a_saved_model_comes_back_with_its_metadata(model: learning.Model, settings: Any,
                                                    screening_dir: Path) -> None:
    saved = learning.save(model)
    back = learning.latest()
    assert back is not None and back.name == saved.name and back.text == model.text
    assert back.features == _features() and back.origin == "synthetic truth"
    assert (screening_dir / "models" / f"{saved.name}.txt").exists()


def test_auc_is_the_share_of_pairs_in_need_scored_above_with_ties_counting_half() -> None:
    rng = np.random.default_rng(5)
    scores = rng.integers(0, 6, 300).astype(float)
    truth = rng.random(300) < 0.2
    pairs = [1.0 if p > q else 0.5 if p == q else 0.0
             for p in scores[truth] for q in scores[~truth]]
    assert learning.auc(scores, truth) == pytest.approx(np.mean(pairs), abs=1e-12)
    assert learning.auc(scores, np.zeros(300, bool)) is None


def test_precision_at_k_counts_a_tie_at_the_cut_by_its_share() -> None:
    scores = np.array([9.0, 5.0, 5.0, 5.0, 5.0, 1.0])
    truth = np.array([1, 1, 0, 0, 0, 1], bool)
    assert learning.precision_at_k(scores, truth, 3) == pytest.approx((1 + 2 * 0.25) / 3)


# --- explanations -------------------------------------------------------------------------

def test_a_leads_explanation_names_the_indicators_that_moved_its_score(
        bench: Bench, model: learning.Model) -> None:
    table = bench.scored.table
    top = np.argsort(-table["learned"].to_numpy())[:20]
    leads = table.take(pa.array(top))
    by_indicator = {f"{c.source}.{c.indicator}": c for c in bench.scored.columns}
    for row, reasons in enumerate(learning.explain_learned(model, leads, bench.scored.columns)):
        assert 1 <= len(reasons) <= learning.TOP_REASONS
        weights = [reason["weight"] for reason in reasons]
        assert weights == sorted(weights, reverse=True) and weights[0] > 0
        for reason in reasons:
            column = by_indicator[reason["indicator"]]
            assert reason["label"] == column.label and reason["text"] == column.explanation
            assert reason["value"] == pytest.approx(leads[column.name][row].as_py(), abs=0.01)
    # The contributions and the bias add up to the model's log-odds: nothing is hidden.
    values = learning.matrix(leads, model.features)
    contributions = model.booster().predict(values, pred_contrib=True)
    probability = leads["learned"].to_numpy()
    assert np.allclose(contributions.sum(axis=1), np.log(probability / (1 - probability)))


def test_a_scorecard_explanation_lists_the_lines_that_gave_points_in_plain_words(
        bench: Bench) -> None:
    table = bench.scored.table
    top = np.argsort(-table["scorecard"].to_numpy(), kind="stable")[:20]
    leads = table.take(pa.array(top))
    for row, reasons in enumerate(learning.explain_scorecard(leads, bench.scored.columns)):
        assert sum(r["weight"] for r in reasons) == leads["scorecard"][row].as_py() > 0
        assert all(r["text"] and r["label"] for r in reasons)


# --- one pipeline, two engines --------------------------------------------------------------

@pytest.fixture(scope="module")
def spark() -> Any:
    reason = engines.spark_unavailable()
    if reason:
        pytest.skip(reason)
    engine = engines.engine("spark")
    yield engine
    engine.close()


def test_spark_gives_the_same_scores_as_duckdb_on_the_same_data(
        spark: engines.ScreeningEngine, model: learning.Model,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("both")
    synth.without_database(400, folder, seed=9, end=END)
    with engines.engine("duckdb") as duck:
        on_duckdb = _score(duck, folder, model)
    on_spark = _score(spark, folder, model)
    assert on_spark.periods == on_duckdb.periods
    a, b = on_duckdb.table, on_spark.table
    assert a.schema == b.schema and a["household_id"].equals(b["household_id"])
    assert a["scorecard"].to_numpy().sum() > 0
    for name in a.schema.names:
        assert np.allclose(a[name].to_numpy(), b[name].to_numpy(), rtol=0, atol=1e-9), name


def test_only_the_latest_month_within_its_refresh_window_is_read(bench: Bench) -> None:
    with engines.engine("duckdb") as engine:
        fresh = _score(engine, bench.folder, None)
        later = pipeline.score(engine, feeds=bench.folder / "feeds",
                               population=bench.folder / "population.parquet",
                               link_keys=bench.folder / "link_keys.parquet",
                               registry=synth.registry(), as_of=dt.date(2027, 1, 31),
                               with_features=True)
    assert set(fresh.periods.values()) == {END} and not fresh.stale
    # Two months on, the 45-day sources are stale; quarterly water and local taxes are not.
    assert later.periods == {"eau": END, "impots": END}
    stale = [c.name for c in later.columns if c.source == "energie"]
    assert not any(later.table[name].to_numpy().any() for name in stale)


def test_the_features_come_back_only_for_the_households_asked_for(
        bench: Bench, model: learning.Model) -> None:
    with engines.engine("duckdb") as engine:
        scores = pipeline.score(engine, feeds=bench.folder / "feeds",
                                population=bench.folder / "population.parquet",
                                link_keys=bench.folder / "link_keys.parquet",
                                registry=synth.registry(), as_of=AS_OF, model=model)
        some = [2_999, 5, 1_234]
        rows = pipeline.features(engine, scores, some)
    assert scores.table.schema == pipeline.SCORES
    assert rows["household_id"].to_pylist() == some
    assert rows.equals(bench.scored.table.take(pa.array([h - 1 for h in some])))
    assert scores.table["reported"].equals(bench.scored.table["reported"])


# --- runs on the database -----------------------------------------------------------------

def _households(count: int, followed: int = 0) -> list[Household]:
    """`count` households in two territories (one team each), 1 to 4 members; the first
    `followed` have an open case file, the next ones a closed one."""
    organisation = OrganisationFactory()
    territories = [TerritoryFactory(organisation=organisation, code=c, name=f"Territoire {c}")
                   for c in ("N", "S")]
    teams = [TeamFactory(territory=t) for t in territories]
    homes = Household.objects.bulk_create([
        Household(territory=territories[i % 2], address=f"{i + 1} rue des Tilleuls",
                  postcode="47000", commune="Agen") for i in range(count)])
    people, roles = [], []
    for i, home in enumerate(homes):
        shape = [(Relationship.HEAD, 1950 + i % 50)]
        if i % 3:
            shape.append((Relationship.SPOUSE if i % 2 else Relationship.CHILD, 2000))
        if i % 5 == 1:
            shape.append((Relationship.CHILD, 2015))
        for relationship, year in shape:
            people.append(Person(first_name="Camille", last_name=f"Martin{i}", household=home,
                                 birth_date=dt.date(year, 3, 1)))
            roles.append(relationship)
    Person.objects.bulk_create(people)
    Membership.objects.bulk_create([Membership(household_id=p.household_id, person=p,
                                               relationship=r)
                                    for p, r in zip(people, roles, strict=True)])
    CaseFile.objects.bulk_create([
        CaseFile(household=home, team=teams[i % 2], opened_at=timezone.now(),
                 status=CaseStatus.OPEN if i < followed else CaseStatus.CLOSED)
        for i, home in enumerate(homes[:followed + 20])])
    return homes


def _call(*args: str) -> str:
    out = StringIO()
    call_command("screening", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def _eviction() -> list[Household]:
    """Three households, the first followed in an open case file; the same eviction under
    way, rent unpaid for months, for the first two."""
    followed, unknown, quiet = _households(3, followed=1)
    synth.register()
    for home in (followed, unknown, quiet):
        LinkKey.objects.create(household=home, kind=KeyKind.IDENTIFIER,
                               digest=pseudonym.digest(KeyKind.IDENTIFIER,
                                                       synth.synthetic_identifier(home.pk)))
    links = pa.array([k.digest for k in LinkKey.objects.order_by("household_id")])
    values = np.zeros((3, 8))
    values[:2] = [6, 2700, 180, 1, 1, 1, 1, 0]
    chunk = synth.Chunk(np.array([h.pk for h in (followed, unknown, quiet)]),
                        np.array([True, True, False]), {END: {"logement": values}},
                        {END: {"logement": np.ones(3, bool)}})
    synth.write_feeds(chunk, {"identifier": links}, feeds.feeds_dir())
    return [followed, unknown, quiet]


@pytest.mark.django_db
def test_a_household_already_in_an_open_case_file_is_never_a_lead() -> None:
    followed, unknown, quiet = _eviction()
    screening = runs.run(system_actor(), as_of=AS_OF)
    assert list(screening.lead_set.values_list("household_id", flat=True)) == [unknown.pk]
    assert screening.evaluation["run"]["open_case"] == 1
    lead = screening.lead_set.get()
    assert lead.scorecard == 2 + 2 + 1 + 4 + 5 + 2 + 2
    assert lead.team == Team.objects.get(territory=unknown.territory)
    assert [r["indicator"] for r in lead.explanation][:2] == ["logement.assignation",
                                                              "logement.commandement_payer"]


@pytest.mark.django_db
def test_a_lead_waiting_for_its_visit_is_not_sent_again_until_it_is_made() -> None:
    _, unknown, _ = _eviction()
    first = runs.run(system_actor(), as_of=AS_OF)
    again = runs.run(system_actor(), as_of=AS_OF)
    assert (first.leads, again.leads, again.evaluation["run"]["waiting_lead"]) == (1, 0, 1)
    first.lead_set.update(outcome=Outcome.UNREACHABLE, outcome_at=timezone.now())
    third = runs.run(system_actor(), as_of=AS_OF)
    assert list(third.lead_set.values_list("household_id", flat=True)) == [unknown.pk]


@pytest.mark.django_db
def test_the_schedule_runs_when_due_and_not_before() -> None:
    _eviction()
    now = timezone.now()  # runs are stamped with the real time
    first = runs.scheduled(system_actor(), now, every_days=60)
    assert first is not None
    assert runs.scheduled(system_actor(), now + dt.timedelta(days=59), every_days=60) is None
    later = runs.scheduled(system_actor(), now + dt.timedelta(days=61), every_days=60)
    assert later is not None and ScreeningRun.objects.count() == 2


@pytest.mark.django_db
def test_screening_run_end_to_end_creates_a_run_and_leads_with_explanations_and_bias(
        screening_dir: Path) -> None:
    homes = _households(400, followed=40)
    output = _call("synth", "--seed", "3", "--import")  # the last complete month and the one before
    assert "400 households" in output and (screening_dir / "synth" / "truth.parquet").exists()
    assert not Import.objects.filter(rows_rejected__gt=0).exists()  # import takes it all
    assert LinkKey.objects.filter(kind=KeyKind.ADDRESS).count() == 400
    assert LinkKey.objects.filter(kind=KeyKind.IDENTIFIER).count() == 400

    output = _call("run", "--leads-per-team", "15")
    screening = ScreeningRun.objects.get()
    assert f"Run {screening.pk}: 400 households scored" in output
    assert 0 < screening.leads == screening.lead_set.count() <= 30
    assert screening.evaluation["run"]["periods"] == {s.code: synth.last_month()
                                                      for s in synth.REGISTRY}
    truth = screening.evaluation["truth"]
    assert truth["k"] == 30 and truth["households"] == 360 and "random" in truth
    followed = {h.pk for h in homes[:40]}
    for lead in screening.lead_set.all():
        assert lead.household_id not in followed and lead.team is not None
        assert lead.explanation and lead.explanation[0]["weight"] >= lead.explanation[-1][
            "weight"]
        assert lead.score == lead.scorecard == sum(r["weight"] for r in lead.explanation)
    bias = screening.bias
    assert set(bias) == {"overall", "territory", "age_band", "household_type"}
    assert set(bias["territory"]) == {"Territoire N", "Territoire S"}
    assert sum(c["leads"] for c in bias["household_type"].values()) == screening.leads
    assert {"lead_rate", "precision", "recall"} <= set(bias["overall"])
    assert AuditRecord.objects.filter(object_type="screening_run",
                                      object_id=screening.pk).exists()

    # Visits are recorded; a learned model is trained (the demo has too few outcomes, so
    # on half the synthetic truth) and chooses the next leads, explained by contributions.
    first = screening.lead_set.order_by("pk")
    for i, lead in enumerate(first):
        lead.outcome = Outcome.CASE_OPENED if i % 2 else Outcome.NOT_IN_NEED
        lead.outcome_at = timezone.now()
        lead.save()
    features, labels = runs.training_set()
    assert len(labels) == screening.leads and features.num_rows == len(labels)
    assert set(_features()) <= set(features.schema.names)

    output = _call("run", "--train", "--model", "learned", "--leads-per-team", "15")
    assert "trained on" in output and "(synthetic truth)" in output
    second = ScreeningRun.objects.order_by("-pk").first()
    assert second is not None and second.model == "learned" and second.leads > 0
    assert "learned" in second.evaluation["truth"]
    assert second.evaluation["truth"]["households"] < 360  # not those it learned from
    assert second.evaluation["outcomes"]["counts"][Outcome.CASE_OPENED] == screening.leads // 2
    assert "outcome_precision" in second.bias["overall"]
    lead = second.lead_set.order_by("-score").first()
    assert lead is not None and lead.learned == lead.score and 0 < lead.score < 1
    assert all(r["weight"] > 0 and "." in r["indicator"] for r in lead.explanation)


@pytest.mark.django_db
def test_enough_outcomes_train_the_next_model_on_the_leads_features(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _households(120)
    _call("synth", "--seed", "4", "--end", END, "--import")
    screening = runs.run(system_actor(), leads_per_team=40, threshold=1, as_of=AS_OF)
    for i, lead in enumerate(screening.lead_set.order_by("pk")):
        lead.outcome = [Outcome.CASE_OPENED, Outcome.NOT_IN_NEED, Outcome.REFUSED][i % 3]
        lead.outcome_at = timezone.now()
        lead.save()
    monkeypatch.setattr(runs, "MIN_LABELS", 10)
    model = runs.train()
    assert model.origin == "outcomes"
    assert model.rows == len([i for i in range(screening.leads) if i % 3 != 2])
    assert not (learning.models_dir() / f"{model.name}.households.parquet").exists()


def test_a_synthetic_population_is_reproducible_and_a_few_percent_in_crisis(
        tmp_path: Path) -> None:
    a = synth.without_database(5_000, tmp_path / "a", seed=8, end=END)
    b = synth.without_database(5_000, tmp_path / "b", seed=8, end=END)
    assert 0.02 < a.in_crisis / 5_000 < 0.06 and b.in_crisis == a.in_crisis
    for name in ("truth.parquet", "population.parquet", "link_keys.parquet",
                 "feeds/source=energie/period=2026-09/data.parquet"):
        assert pq.read_table(tmp_path / "a" / name).equals(pq.read_table(tmp_path / "b" / name))
    feed = pq.read_table(tmp_path / "a" / "feeds/source=logement/period=2026-10/data.parquet")
    assert feed.schema == feeds.SCHEMA and not math.isnan(sum(feed["value"].to_pylist()))
    assert len(synth.registry()) == 6 and len(_features()) == 40
