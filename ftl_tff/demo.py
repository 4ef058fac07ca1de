"""The end-to-end demo behind ``ftl-tff demo`` and ``make demo``.

This release runs the data pipeline on generated M100 telemetry: synthetic
raw release -> processed dataset -> per-node splits, scaling and the
federated client arrays, printing each step's summary. Federated training,
transfer and statistics join it as they land.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from .data import prepare
from .data.client_data import prepare_federated_data
from .data.synthetic import generate_raw

#: Sizes of the demo: (nodes, days, sampling period in seconds).
FULL_SIZE = (40, 14.0, 60)
QUICK_SIZE = (6, 2.0, 60)


def run_demo(out: str | Path, quick: bool = False, seed: int = 0, echo: Callable[[str], None] = print) -> dict:
    """Run the demo and write its results to ``out``.

    Args:
        out: Results folder (created).
        quick: A small version for smoke tests.
        seed: Random seed of the generated data.
        echo: Where progress lines go.

    Returns:
        The summary written to ``out/summary.json``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n_nodes, days, period = QUICK_SIZE if quick else FULL_SIZE
    timings = {}

    echo(f"[1/3] Generating {n_nodes} nodes x {days:g} days of M100-format telemetry (seed {seed}) ...")
    started = time.perf_counter()
    synthetic = generate_raw(out / "raw", n_nodes=n_nodes, days=days, seed=seed, metric_set="compact", overwrite=True,
                             ipmi_period_s=period, ganglia_period_s=period)
    timings["generate_s"] = time.perf_counter() - started
    echo(f"      {len(synthetic.ground_truth)} injected anomaly episodes -> {out / 'raw'}")

    echo("[2/3] Preparing 15-minute windows with Nagios labels (rule: critical) ...")
    started = time.perf_counter()
    dataset = prepare(out / "raw", out / "prepared", "raw")
    timings["prepare_s"] = time.perf_counter() - started
    summary = dataset.summary()
    echo(f"      {len(dataset.nodes)} nodes, {len(dataset.feature_columns)} features, "
         f"{int(summary['windows'].sum())} windows, {int(summary['anomalous_windows'].sum())} anomalous")

    echo(f"[3/3] Splitting per node (blocked by {'6 h' if quick else 'day'}, 80/20), scaling on each node's own training part ...")
    started = time.perf_counter()
    federated = prepare_federated_data(dataset, split="blocked", train=0.8, block="6h" if quick else "1D")
    timings["split_scale_s"] = time.perf_counter() - started
    report = federated.split_report
    echo(report.to_string(max_rows=12))

    result = {
        "nodes": len(dataset.nodes),
        "features": len(dataset.feature_columns),
        "windows": int(summary["windows"].sum()),
        "anomalous_windows": int(summary["anomalous_windows"].sum()),
        "injected_episodes": len(synthetic.ground_truth),
        "timings": {k: round(v, 2) for k, v in timings.items()},
    }
    (out / "summary.json").write_text(json.dumps(result, indent=2))
    summary.to_csv(out / "nodes.csv", index=False)
    report.to_csv(out / "split_report.csv")
    echo(f"Done. Results in {out} (summary.json, nodes.csv, split_report.csv, prepared/).")
    return result
