"""Tests of the report figures: PNGs written, errors named, no pyplot state left."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from ftl_tff.errors import DataError, SchemaError, SelectionError
from ftl_tff.experiments.figures import (
    FIGURE_NAMES,
    anomaly_spans,
    plot_all,
    plot_data_efficiency,
    plot_delta_per_node,
    plot_error_timeline,
    plot_metric_distributions,
    plot_roc_curves,
    plot_training_curves,
)

NODES = [f"r{rack}n{i:02d}" for rack in (1, 2) for i in range(4)]
TRANSFER = ("zero-shot", "fine-tune")


# ---------------------------------------------------------------------------
# Synthetic tables
# ---------------------------------------------------------------------------


def make_per_node(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for paradigm in ("unsupervised", "semi-supervised"):
        for strategy in ("top", "random"):
            for s in (0, 1):
                for k, node in enumerate(NODES):
                    role = "participating" if k < 3 else "non-participating"
                    methods = ("federated", "local") if role == "participating" else ("local",) + TRANSFER
                    for method in methods:
                        f1 = float(rng.uniform(0.2, 0.9))
                        rows.append({"paradigm": paradigm, "strategy": strategy, "n_nodes": 3, "seed": s,
                                     "node": node, "role": role, "method": method,
                                     "f1": np.nan if rng.random() < 0.15 else f1, "precision": f1,
                                     "recall": f1, "roc_auc": f1, "pr_auc": f1, "threshold": 0.5})
    return pd.DataFrame(rows)


def make_deltas(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for strategy in ("top", "random"):
        for method in TRANSFER:
            for node in NODES[3:]:
                rows.append({"paradigm": "unsupervised", "strategy": strategy, "n_nodes": 3, "node": node,
                             "method": method, "baseline": "local",
                             "delta_f1": float(rng.normal(0.02, 0.1)),
                             "delta_roc_auc": np.nan if node == NODES[3] else float(rng.normal(0, 0.05))})
    return pd.DataFrame(rows)


def make_curves(seed: int = 0, validation: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for paradigm in ("unsupervised", "supervised"):
        for strategy in ("top", "random"):
            for s in (0, 1):
                for r in range(1, 11):
                    loss = 1.0 / r ** 2 * (1 + 0.05 * rng.random())
                    row = {"paradigm": paradigm, "strategy": strategy, "n_nodes": 4, "seed": s, "round": r,
                           "train_loss": loss}
                    if validation:
                        row["validation_loss"] = loss * 1.2 if s == 0 else np.nan
                    rows.append(row)
    return pd.DataFrame(rows)


def make_scores(seed: int = 0) -> pd.DataFrame:
    """Three nodes x three methods, 96 windows of 15 min; node c has one class only."""
    rng = np.random.default_rng(seed)
    starts = pd.date_range("2022-09-01", periods=96, freq="15min", tz="UTC")
    anomalies = {"a": [(10, 14)], "b": [(20, 30), (50, 52)], "c": []}
    rows = []
    for node, runs in anomalies.items():
        label = np.zeros(len(starts), dtype=int)
        for lo, hi in runs:
            label[lo:hi] = 1
        for method in ("local",) + TRANSFER:
            score = rng.lognormal(-3, 1.0, size=len(starts)) + label * rng.uniform(0.5, 2, size=len(starts))
            rows.append(pd.DataFrame({"node": node, "method": method, "window_start": starts, "score": score,
                                      "threshold": float(np.quantile(score, 0.9)), "label": label}))
    return pd.concat(rows, ignore_index=True)


def make_efficiency(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for node in NODES:
        for method in ("local", "fine-tune"):
            for days in (1.0, 3.0, 7.0, 14.0):
                rows.append({"node": node, "days": days, "n_windows": int(days * 96), "method": method,
                             "f1": float(np.clip(0.3 + 0.1 * np.log(days) + rng.normal(0, 0.05), 0, 1)),
                             "roc_auc": float(rng.uniform(0.5, 1))})
        rows.append({"node": node, "days": 0.0, "n_windows": 0, "method": "zero-shot",
                     "f1": float(rng.uniform(0.3, 0.5)), "roc_auc": float(rng.uniform(0.5, 0.8))})
    return pd.DataFrame(rows)


@pytest.fixture(autouse=True)
def no_open_figures():
    """Every test starts and ends with no pyplot figure open."""
    plt.close("all")
    yield
    assert plt.get_fignums() == []


def assert_png(path: Path, expected: Path) -> None:
    assert path == expected and isinstance(path, Path)
    assert path.is_file()
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width = matplotlib.image.imread(path).shape[:2]
    assert 150 <= height <= 4000 and 150 <= width <= 4000
    assert plt.get_fignums() == []


# ---------------------------------------------------------------------------
# 1. Deltas
# ---------------------------------------------------------------------------


def test_delta_per_node_one_group_many_nodes(tmp_path):
    rng = np.random.default_rng(1)
    values = rng.normal(size=120)
    values[:5] = np.nan
    deltas = pd.DataFrame({"node": np.arange(120), "delta_roc_auc": values})  # int node ids are shown as strings
    path = tmp_path / "many.png"
    assert_png(plot_delta_per_node(deltas, path, metric="delta_roc_auc", title="custom"), path)


def test_delta_per_node_missing_column(tmp_path):
    with pytest.raises(DataError, match="delta_roc_auc"):
        plot_delta_per_node(make_deltas().drop(columns="delta_roc_auc"), tmp_path / "x.png", metric="delta_roc_auc")
    with pytest.raises(SchemaError, match="'node'"):
        plot_delta_per_node(make_deltas().drop(columns="node"), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_delta_per_node_empty_or_all_nan(tmp_path):
    with pytest.raises(DataError, match="empty"):
        plot_delta_per_node(make_deltas().iloc[:0], tmp_path / "x.png")
    deltas = make_deltas().assign(delta_f1=np.nan)
    with pytest.raises(DataError, match="NaN"):
        plot_delta_per_node(deltas, tmp_path / "x.png")


# ---------------------------------------------------------------------------
# 2. Distributions
# ---------------------------------------------------------------------------


def test_metric_distributions_every_role(tmp_path):
    path = tmp_path / "dist.png"
    assert_png(plot_metric_distributions(make_per_node(), path, metric="precision", role=None), path)


def test_metric_distributions_without_optional_columns(tmp_path):
    table = make_per_node()[["method", "roc_auc"]]
    path = tmp_path / "dist.png"
    assert_png(plot_metric_distributions(table, path, metric="roc_auc"), path)


def test_metric_distributions_errors(tmp_path):
    with pytest.raises(DataError, match="'pr_auc'"):
        plot_metric_distributions(make_per_node().drop(columns="pr_auc"), tmp_path / "x.png", metric="pr_auc")
    with pytest.raises(DataError, match="empty"):
        plot_metric_distributions(make_per_node().iloc[:0], tmp_path / "x.png")
    with pytest.raises(DataError, match="role"):
        plot_metric_distributions(make_per_node(), tmp_path / "x.png", role="observer")
    with pytest.raises(DataError, match="NaN"):
        plot_metric_distributions(make_per_node().assign(f1=np.nan), tmp_path / "x.png")


# ---------------------------------------------------------------------------
# 3. ROC curves
# ---------------------------------------------------------------------------


def test_roc_curves_one_node_some_methods(tmp_path):
    scores = make_scores()
    path = tmp_path / "b.png"
    assert_png(plot_roc_curves(scores, path, node="b", methods=["fine-tune", "local"]), path)


def test_roc_curves_one_class_node_does_not_raise(tmp_path):
    path = tmp_path / "c.png"
    assert_png(plot_roc_curves(make_scores(), path, node="c"), path)


def test_roc_curves_errors(tmp_path):
    scores = make_scores()
    with pytest.raises(DataError, match="'label'"):
        plot_roc_curves(scores.drop(columns="label"), tmp_path / "x.png")
    with pytest.raises(DataError, match="empty"):
        plot_roc_curves(scores.iloc[:0], tmp_path / "x.png")
    with pytest.raises(SelectionError, match="'zz'"):
        plot_roc_curves(scores, tmp_path / "x.png", node="zz")
    with pytest.raises(SelectionError, match="'centralized'"):
        plot_roc_curves(scores, tmp_path / "x.png", methods=["centralized"])


# ---------------------------------------------------------------------------
# 4. Error timeline
# ---------------------------------------------------------------------------


def test_anomaly_spans_merges_consecutive_windows():
    starts = pd.date_range("2022-09-01", periods=5, freq="15min", tz="UTC")
    spans = anomaly_spans(starts, [0, 1, 1, 0, 1])
    assert spans == [(starts[1], starts[2] + pd.Timedelta(minutes=15)),
                     (starts[4], starts[4] + pd.Timedelta(minutes=15))]


def test_anomaly_spans_order_gaps_and_edge_cases():
    starts = pd.date_range("2022-09-01", periods=6, freq="1h", tz="UTC")
    hour = pd.Timedelta(hours=1)
    # Unsorted input is sorted first; a missing window (gap in time) splits a run.
    kept = [5, 0, 1, 3, 4]
    labels = [1, 1, 1, 1, 1]
    assert anomaly_spans(starts[kept], labels) == [(starts[0], starts[1] + hour), (starts[3], starts[5] + hour)]
    assert anomaly_spans(starts, [0] * 6) == []
    assert anomaly_spans(starts, [1] * 6) == [(starts[0], starts[5] + hour)]
    assert anomaly_spans(starts[:1], [1]) == [(starts[0], starts[0] + pd.Timedelta(minutes=15))]
    assert anomaly_spans(starts[:2], [np.nan, 1], window=hour) == [(starts[1], starts[1] + hour)]
    with pytest.raises(DataError, match="length"):
        anomaly_spans(starts, [1])


def test_error_timeline_log_scale_and_no_anomaly(tmp_path):
    scores = make_scores()
    scores.loc[scores["node"] == "c", "score"] *= np.logspace(0, 4, (scores["node"] == "c").sum())
    path = tmp_path / "c.png"
    assert_png(plot_error_timeline(scores, path, node="c", method="local"), path)


def test_error_timeline_errors(tmp_path):
    scores = make_scores()
    with pytest.raises(DataError, match="'threshold'"):
        plot_error_timeline(scores.drop(columns="threshold"), tmp_path / "x.png", node="a", method="local")
    with pytest.raises(DataError, match="empty"):
        plot_error_timeline(scores.iloc[:0], tmp_path / "x.png", node="a", method="local")
    with pytest.raises(SelectionError, match="'zz'"):
        plot_error_timeline(scores, tmp_path / "x.png", node="zz", method="local")
    with pytest.raises(SelectionError, match="'federated'"):
        plot_error_timeline(scores, tmp_path / "x.png", node="a", method="federated")


# ---------------------------------------------------------------------------
# 5. Training curves
# ---------------------------------------------------------------------------


def test_training_curves_minimal_columns(tmp_path):
    """No paradigm, strategy, n_nodes, seed nor validation_loss: one panel, one line."""
    curves = pd.DataFrame({"round": [1, 2, 3], "train_loss": [0.3, 0.2, 0.15]})
    path = tmp_path / "curves.png"
    assert_png(plot_training_curves(curves, path), path)


def test_training_curves_errors(tmp_path):
    with pytest.raises(DataError, match="'round'"):
        plot_training_curves(make_curves().drop(columns="round"), tmp_path / "x.png")
    with pytest.raises(DataError, match="empty"):
        plot_training_curves(make_curves().iloc[:0], tmp_path / "x.png")
    with pytest.raises(DataError, match="NaN"):
        plot_training_curves(make_curves(validation=False).assign(train_loss=np.nan), tmp_path / "x.png")


# ---------------------------------------------------------------------------
# 6. Data efficiency
# ---------------------------------------------------------------------------


def test_data_efficiency_writes_png(tmp_path):
    metric = "roc_auc"
    table = make_efficiency()
    table.loc[(table["node"] == NODES[0]) & (table["days"] == 14.0), metric] = np.nan
    path = tmp_path / "eff.png"
    assert_png(plot_data_efficiency(table, path, metric=metric), path)


def test_data_efficiency_errors(tmp_path):
    with pytest.raises(DataError, match="'days'"):
        plot_data_efficiency(make_efficiency().drop(columns="days"), tmp_path / "x.png")
    with pytest.raises(DataError, match="empty"):
        plot_data_efficiency(make_efficiency().iloc[:0], tmp_path / "x.png")


# ---------------------------------------------------------------------------
# 7. plot_all
# ---------------------------------------------------------------------------


def test_plot_all_draws_every_figure(tmp_path):
    """Also the default-argument path of every plot_* function (grid of deltas, pooled ROC, ...)."""
    tables = {"per_node": make_per_node(), "deltas": make_deltas(), "curves": make_curves(),
              "scores": make_scores(), "efficiency": make_efficiency(), "unrelated": "ignored"}
    out = tmp_path / "report" / "figures"
    paths = plot_all(tables, out)
    assert list(paths) == list(FIGURE_NAMES)
    for name, path in paths.items():
        assert_png(path, out / f"{name}.png")


def test_plot_all_skips_absent_tables(tmp_path):
    paths = plot_all({"deltas": make_deltas().drop(columns="delta_roc_auc"), "curves": None,
                      "efficiency": make_efficiency().iloc[:0]}, tmp_path)
    assert set(paths) == {"delta_f1_per_node"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["delta_f1_per_node.png"]
    assert plot_all({}, tmp_path / "none") == {}


def test_plot_all_undrawable_figure_warns_or_raises(tmp_path):
    tables = {"per_node": make_per_node().drop(columns="f1"), "efficiency": make_efficiency()}
    with pytest.warns(UserWarning, match="f1_distributions"):
        paths = plot_all(tables, tmp_path)
    assert set(paths) == {"data_efficiency"}
    with pytest.raises(DataError, match="'f1'"):
        plot_all({"per_node": tables["per_node"]}, tmp_path / "strict", strict=True)


def test_plot_all_timeline_picks_most_anomalous_node_and_fine_tune(tmp_path, monkeypatch):
    import ftl_tff.experiments.figures as figures

    calls = []

    def spy(scores, path, *, node, method):
        calls.append((node, method))
        return path

    monkeypatch.setattr(figures, "plot_error_timeline", spy)
    monkeypatch.setattr(figures, "plot_roc_curves", lambda scores, path: path)
    scores = make_scores()
    plot_all({"scores": scores}, tmp_path)
    assert calls == [("b", "fine-tune")]
    calls.clear()
    plot_all({"scores": scores[scores["method"] != "fine-tune"]}, tmp_path)
    assert calls == [("b", "zero-shot")]
