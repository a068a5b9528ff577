"""The learned model of screening, its evaluation and its explanations.

A LightGBM binary classifier learns from the feature columns of households whose situation
is known: leads whose visit opened a case file (1) or found no need (0) — refusals and
unreachable households say nothing and are left out — or, on synthetic data, the hidden
truth of a sample. Training is deterministic for a seed (one thread, `deterministic`), and
the model is saved under ENTRAIDE_SCREENING_DIR/models/ with its metadata.

`evaluate` compares the scorecard, the learned model and a random order on the same truth:
ROC AUC (rank-based, Mann–Whitney), precision at k (k = the visits the teams can make),
calibration. Explanations are computed for leads only: each lead's features' contributions
to the model's log-odds (`pred_contrib`), or the scorecard lines that gave it points.

Nothing here imports Django models: Spark's Python workers unpickle `Scorer` from it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    import lightgbm

    from .pipeline import Column

THREADS = 1  # a fixed thread count is part of LightGBM's determinism
ROUNDS = 200
PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 20,
    "lambda_l2": 1.0,
    "feature_fraction": 0.9,
    "deterministic": True,
    "force_col_wise": True,
    "num_threads": THREADS,
    "verbose": -1,
}
TOP_REASONS = 5


def models_dir() -> Path:
    from django.conf import settings

    return Path(settings.ENTRAIDE_SCREENING_DIR) / "models"


def matrix(table: pa.Table | pa.RecordBatch, features: Sequence[str]) -> np.ndarray:
    """The features of `table` as a float matrix in the model's order; a column the table
    lacks (an indicator added or removed since training) counts as 0, as missing does."""
    n = table.num_rows
    out = np.zeros((n, len(features)), dtype=np.float64)
    names = set(table.schema.names)
    for j, name in enumerate(features):
        if name in names:
            column = table.column(name)
            out[:, j] = np.nan_to_num(np.asarray(column.to_numpy(zero_copy_only=False),
                                                 dtype=np.float64))
    return out


def _booster(text: str) -> lightgbm.Booster:
    import lightgbm

    return lightgbm.Booster(model_str=text)


class Scorer:
    """The learned score as a batch function for `map_batches`: picklable (it carries the
    model as text) and loading the booster once per worker."""

    def __init__(self, text: str, features: Sequence[str], threads: int = 1):
        self.text, self.features, self.threads = text, list(features), threads
        self._loaded: lightgbm.Booster | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"text": self.text, "features": self.features, "threads": self.threads}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.text, self.features, self.threads = (state["text"], state["features"],
                                                  state["threads"])
        self._loaded = None

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if self._loaded is None:
            self._loaded = _booster(self.text)
        learned = self._loaded.predict(matrix(batch, self.features), num_threads=self.threads)
        # Only the key and the score go back: copying 40 feature columns of every household
        # out of and back into the engine cost more than the prediction itself.
        return pa.RecordBatch.from_arrays([batch.column("household_id"),
                                           pa.array(learned, pa.float64())],
                                          names=["household_id", "learned"])


@dataclass
class Model:
    """A trained model and what it was trained on."""

    text: str
    features: list[str]
    trained_at: str
    rows: int
    positives: int
    origin: str  # "outcomes" or "synthetic truth"
    seed: int
    name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def booster(self) -> lightgbm.Booster:
        return _booster(self.text)

    def scorer(self, threads: int = 1) -> Scorer:
        """The batch function of `map_batches`; a prediction is the same on any number of
        threads (0: every core), only faster."""
        return Scorer(self.text, self.features, threads)

    def predict(self, table: pa.Table) -> np.ndarray:
        return np.asarray(self.booster().predict(matrix(table, self.features),
                                                 num_threads=THREADS))

    def metadata(self) -> dict[str, Any]:
        return {"features": self.features, "trained_at": self.trained_at, "rows": self.rows,
                "positives": self.positives, "origin": self.origin, "seed": self.seed,
                "params": {k: v for k, v in PARAMS.items() if k != "verbose"},
                **self.extra}


def train(table: pa.Table, labels: np.ndarray, features: Sequence[str], *, seed: int = 0,
          origin: str = "outcomes", rounds: int = ROUNDS) -> Model:
    """Train on the feature columns of `table` against 0/1 `labels`; the same data and seed
    give the same model, byte for byte."""
    import lightgbm

    labels = np.asarray(labels, dtype=np.float64)
    if len(np.unique(labels)) < 2:
        raise ValueError("training needs both outcomes: some households in need, some not")
    data = lightgbm.Dataset(matrix(table, features), label=labels,
                            feature_name=list(features), free_raw_data=True,
                            params={"verbose": -1})
    booster = lightgbm.train({**PARAMS, "seed": seed}, data, num_boost_round=rounds)
    return Model(booster.model_to_string(), list(features),
                 dt.datetime.now(dt.UTC).isoformat(), len(labels),
                 int(labels.sum()), origin, seed)


def save(model: Model, folder: Path | None = None) -> Model:
    """Write the model (LightGBM text) and its metadata (JSON) side by side; the name is
    the training time, so that the latest sorts last."""
    folder = folder or models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stem = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    (folder / f"{stem}.txt").write_text(model.text, encoding="utf-8")
    (folder / f"{stem}.json").write_text(json.dumps(model.metadata(), indent=1),
                                         encoding="utf-8")
    model.name = stem
    return model


def load(name: str, folder: Path | None = None) -> Model:
    folder = folder or models_dir()
    meta = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
    known = {"features", "trained_at", "rows", "positives", "origin", "seed", "params"}
    return Model((folder / f"{name}.txt").read_text(encoding="utf-8"), meta["features"],
                 meta["trained_at"], meta["rows"], meta["positives"], meta["origin"],
                 meta["seed"], name, {k: v for k, v in meta.items() if k not in known})


def latest(folder: Path | None = None) -> Model | None:
    """The most recently trained model, if any."""
    folder = folder or models_dir()
    names = sorted(p.stem for p in folder.glob("*.json") if (folder / f"{p.stem}.txt").exists())
    return load(names[-1], folder) if names else None


# --- evaluation ---------------------------------------------------------------------------

def _ranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank."""
    order = np.argsort(scores, kind="stable")
    ordered = scores[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(scores)]
    average = (starts + ends + 1) / 2.0
    ranks = np.empty(len(scores))
    ranks[order] = np.repeat(average, ends - starts)
    return ranks


def auc(scores: np.ndarray, truth: np.ndarray) -> float | None:
    """ROC AUC as the Mann–Whitney U statistic: the chance that a household in need is
    scored above one that is not (ties count half). None without both kinds."""
    truth = np.asarray(truth, dtype=bool)
    positives, negatives = int(truth.sum()), int((~truth).sum())
    if not positives or not negatives:
        return None
    ranks = _ranks(np.asarray(scores, dtype=np.float64))
    u = ranks[truth].sum() - positives * (positives + 1) / 2.0
    return float(u / (positives * negatives))


def precision_at_k(scores: np.ndarray, truth: np.ndarray, k: int) -> float | None:
    """The share in need among the k highest scores; households tied at the cut count by
    their group's share, as a random tie-break would on average."""
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    k = min(k, len(scores))
    if k <= 0:
        return None
    cut = np.partition(scores, len(scores) - k)[len(scores) - k]
    above = scores > cut
    tied = scores == cut
    hits = truth[above].sum() + (k - above.sum()) * truth[tied].mean()
    return float(hits / k)


def _edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Edges of (at most) `bins` equal-count bins; tied values stay in one bin."""
    return np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))


def _bin(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    # A value equal to an edge goes below it: a mass of households at 0 points is one bin.
    return np.searchsorted(edges, values, side="left")


def calibration(scores: np.ndarray, truth: np.ndarray, *, probability: bool, bins: int = 10,
                seed: int = 0) -> dict[str, Any]:
    """Predicted against observed rate in (up to) 10 bins of the score, and the expected
    calibration error. A score that is no probability (points, a random order) is first
    mapped to a rate: the observed rate of its bin on one half of the households, checked
    on the other half."""
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if probability:
        checked = np.ones(len(scores), dtype=bool)
        group = _bin(scores, _edges(scores, bins))
        predicted = scores
    else:
        checked = np.random.default_rng([seed, 1]).random(len(scores)) >= 0.5
        fitted = ~checked
        group = _bin(scores, _edges(scores[fitted] if fitted.any() else scores, bins))
        overall = truth[fitted].mean() if fitted.any() else truth.mean()
        rates = {g: truth[fitted & (group == g)].mean() if (fitted & (group == g)).any()
                 else overall for g in np.unique(group)}
        predicted = np.array([rates[g] for g in group])
    rows, error, total = [], 0.0, int(checked.sum())
    for g in np.unique(group[checked]):
        inside = checked & (group == g)
        mean_predicted, rate = float(predicted[inside].mean()), float(truth[inside].mean())
        rows.append({"households": int(inside.sum()), "predicted": round(mean_predicted, 4),
                     "observed": round(rate, 4)})
        error += inside.sum() / total * abs(mean_predicted - rate)
    return {"bins": rows, "error": round(float(error), 4)}


def evaluate(scores: Mapping[str, np.ndarray], truth: np.ndarray, k: int,
             seed: int = 0) -> dict[str, Any]:
    """Compare scores on the same households: `scores` maps a name (scorecard, learned) to
    one score per household; a random order (fixed seed) is added as the floor. Learned
    scores are probabilities, the others are mapped to rates for calibration."""
    truth = np.asarray(truth, dtype=bool)
    everything = {**scores, "random": np.random.default_rng(seed).random(len(truth))}
    report: dict[str, Any] = {"households": int(len(truth)), "positives": int(truth.sum()),
                              "base_rate": round(float(truth.mean()), 4) if len(truth) else 0,
                              "k": int(min(k, len(truth)))}
    for name, values in everything.items():
        values = np.asarray(values, dtype=np.float64)
        precision = precision_at_k(values, truth, k)
        area = auc(values, truth)
        report[name] = {
            "auc": None if area is None else round(area, 4),
            "precision_at_k": None if precision is None else round(precision, 4),
            "found_at_k": None if precision is None else round(precision * report["k"], 1),
            "recall_at_k": (round(float(precision * report["k"] / truth.sum()), 4)
                            if precision is not None and truth.any() else None),
            "calibration": calibration(values, truth, probability=name == "learned",
                                       seed=seed) if len(truth) else {},
        }
    return report


# --- explanations -------------------------------------------------------------------------

def _reason(column: Column | None, name: str, value: float, weight: float) -> dict[str, Any]:
    return {"indicator": f"{column.source}.{column.indicator}" if column else name,
            "label": column.label if column else name, "value": round(float(value), 2),
            "weight": round(float(weight), 4), "text": column.explanation if column else ""}


def explain_learned(model: Model, rows: pa.Table, cols: Sequence[Column],
                    top: int = TOP_REASONS) -> list[list[dict[str, Any]]]:
    """For each row (a lead), the indicators that raised its learned score most, with their
    value and contribution to the log-odds, most first."""
    if not rows.num_rows:
        return []
    by_name = {c.name: c for c in cols}
    values = matrix(rows, model.features)
    contributions = np.asarray(model.booster().predict(values, pred_contrib=True,
                                                       num_threads=THREADS))[:, :-1]
    out = []
    for value_row, contribution in zip(values, contributions, strict=True):
        order = np.argsort(-contribution, kind="stable")
        out.append([_reason(by_name.get(model.features[j]), model.features[j], value_row[j],
                            contribution[j])
                    for j in order[:top] if contribution[j] > 0])
    return out


def explain_scorecard(rows: pa.Table, cols: Sequence[Column]) -> list[list[dict[str, Any]]]:
    """For each row (a lead), the scorecard lines that gave it points, most first."""
    scored = [c for c in cols if c.points]
    values = matrix(rows, [c.name for c in scored])
    out = []
    for value_row in values:
        reasons = [_reason(c, c.name, value_row[j], c.points)
                   for j, c in enumerate(scored) if value_row[j] >= c.threshold]
        out.append(sorted(reasons, key=lambda r: -r["weight"]))
    return out
