"""The benchmarks run and print the figures their issues name (they are not timed here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .telecare.brokers import free_port

ROOT = Path(__file__).resolve().parents[1]


def _bench(name: str, tmp_path: Path, *args: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MQTT_URL")}
    env["ENTRAIDE_DATA_DIR"] = str(tmp_path)
    env["ENTRAIDE_EMBEDDED_MQTT_PORT"] = str(free_port())  # the bench starts its own broker
    out = subprocess.run([sys.executable, "-m", "entraide.cli", "bench", name, *args,
                          "--db", str(tmp_path / "bench.sqlite3")],
                         env=env, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    return json.loads(lines[0])


@pytest.mark.parametrize(("name", "args", "keys"), [
    ("cases", ["--households", "60", "--queries", "5"],
     {"timeline_p50_ms", "timeline_p95_ms", "search_p50_ms", "search_p95_ms", "intake_p95_ms",
      "baseline_timeline_p95_ms", "baseline_search_p95_ms"}),
    ("secrecy", ["--households", "60", "--queries", "5", "--notes", "5"],
     {"notes_per_s", "search_p95_ms", "baseline_search_p95_ms"}),
    ("telecare", ["--homes", "40", "--seconds", "2", "--rate", "300"],
     {"readings_per_s", "alert_p50_ms", "alert_p99_ms", "baseline_readings_per_s"}),
    ("screening", ["--households", "3000", "--check"],
     {"households", "import_s", "features_s", "scoring_s", "leads_s", "total_s", "rows_per_s",
      "baseline_scan_s"}),
    ("territory", ["--households", "400", "--queries", "5", "--plans", "1"],
     {"map_layer_p95_ms", "plan_40_s", "baseline_layer_p95_ms", "households_on_map"}),
])
def test_benchmark_prints_one_json_line_with_its_figures(tmp_path, name, args, keys):
    figures = _bench(name, tmp_path, *args)
    assert keys <= set(figures)
    assert all(isinstance(figures[k], int | float) and figures[k] > 0 for k in keys)
    if name == "telecare":  # on the embedded broker, at a rate it sustains, nothing is lost
        assert figures["lost"] == 0 and figures["alerts"] == figures["incidents"] > 0
