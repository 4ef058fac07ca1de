"""`ftl-tff score` on every kind of model folder: a run, its model/, and a transfer's saved per-node detector.

Real TFF on a tiny generated dataset (3 nodes x 2 days): a federated run on 2
nodes, transferred with ``--save-models`` to the node left out, whose saved
detector is then scored on its own (its threshold, scaler, imputer and gap
measure travel in its model.json).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from ftl_tff_cli.main import main

from ftl_tff._processes import child_pids_named
from ftl_tff.data import load_dataset, prepare
from ftl_tff.data.synthetic import generate_raw

FAST = ["--rounds", "1", "--batch-size", "64", "--baselines", "none", "--seed", "0"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("score_models")
    generate_raw(root / "raw", n_nodes=3, days=2.0, seed=2, metric_set="compact", ipmi_period_s=120,
                 ganglia_period_s=120, anomaly_rate=2.0)
    prepare(root / "raw", root / "prepared", "raw")
    return root / "prepared"


@pytest.fixture(scope="module")
def transferred(prepared, tmp_path_factory) -> dict:
    """A federated run on 2 of the 3 nodes and its transfer (fine-tune) to the third, detectors saved."""
    root = tmp_path_factory.mktemp("score_runs")
    runner = CliRunner()
    run = root / "fed"
    result = runner.invoke(main, ["federated", "--dataset", str(prepared), "--paradigm", "unsupervised",
                                  "--nodes", "2", "--out", str(run), *FAST])
    assert result.exit_code == 0, result.output
    assert "next: ftl-tff transfer" in result.output  # a node was left out: transfer is the next step
    target = json.loads((run / "selection.json").read_text())["non_participating"]
    assert len(target) == 1
    out = root / "transfer"
    result = runner.invoke(main, ["transfer", "--dataset", str(prepared), "--pretrained-model", str(run),
                                  "--mode", "fine-tune", "--epochs", "1", "--no-local", "--save-models",
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert not child_pids_named("worker_binary")
    return {"run": run, "transfer": out, "node": target[0], "detector": out / "models" / target[0] / "fine-tune"}


def _score(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["score", *args])
    return result.exit_code, result.output


def test_score_a_transfers_saved_per_node_detector(transferred, prepared, tmp_path):
    detector = transferred["detector"]
    saved = json.loads((detector / "model.json").read_text())
    out = tmp_path / "scores.csv"
    code, output = _score(str(detector), str(prepared), "--out", str(out))
    assert code == 0, output
    assert "is not a run folder" not in output
    table = pd.read_csv(out, dtype={"node": str})
    node = transferred["node"]
    assert set(table["node"]) == {node} == {saved["extra"]["node"]}
    assert len(table) == len(load_dataset(prepared).frame(node))  # every window of the node (median imputation)
    assert np.allclose(table["threshold"], saved["threshold"])
    assert (table["anomalous"] == (table["score"] >= saved["threshold"]).astype(int)).all()
    assert 0 < table["anomalous"].sum() < len(table)
    assert set(table["top1_feature"]) <= set(saved["feature_columns"])
    # the same scores the transfer computed on the node's test windows (same scaler, imputer and gaps)
    test_scores = pd.read_parquet(transferred["transfer"] / "scores.parquet")
    test_scores = test_scores[(test_scores["node"].astype(str) == node) & (test_scores["method"] == "fine-tune")]
    mine = table.assign(window_start=pd.to_datetime(table["window_start"], utc=True)).set_index("window_start")
    expected = test_scores.set_index("window_start")["score"]
    # The reconstruction error is smoothed over the last smooth_windows windows: where all of them are test
    # windows, the transfer (which scored the test part) and score (the whole series) saw the same history.
    history = saved["params"]["smooth_windows"]
    step = pd.Timedelta("15min")
    same = [t for t in expected.index if all(t - k * step in expected.index for k in range(1, history))]
    assert len(same) > 0
    np.testing.assert_allclose(mine.loc[same, "score"], expected.loc[same], rtol=1e-5)


def test_score_a_detector_on_the_nodes_given(transferred, prepared, tmp_path):
    out = tmp_path / "all.parquet"
    code, output = _score(str(transferred["detector"]), str(prepared), "--out", str(out), "--nodes", "all")
    assert code == 0, output
    table = pd.read_parquet(out)
    assert set(table["node"].astype(str)) == set(load_dataset(prepared).nodes)
    assert table["threshold"].nunique() == 1
    other = next(n for n in load_dataset(prepared).nodes if n != transferred["node"])
    code, output = _score(str(transferred["detector"]), str(prepared), "--out", str(out), "--nodes", other)
    assert code == 0, output
    assert set(pd.read_parquet(out)["node"].astype(str)) == {other}


def test_score_a_run_folder_and_its_model_folder_alike(transferred, prepared, tmp_path):
    run = transferred["run"]
    code, output = _score(str(run), str(prepared), "--out", str(tmp_path / "run.csv"))
    assert code == 0, output
    code, output = _score(str(run / "model"), str(prepared), "--out", str(tmp_path / "model.csv"))
    assert code == 0, output
    by_run = pd.read_csv(tmp_path / "run.csv", dtype={"node": str})
    by_model = pd.read_csv(tmp_path / "model.csv", dtype={"node": str})
    pd.testing.assert_frame_equal(by_run, by_model)
    calibration = json.loads((run / "calibration.json").read_text())
    assert set(by_run["node"]) == set(calibration)
    for node, rows in by_run.groupby("node"):
        assert np.allclose(rows["threshold"], calibration[node]["threshold"])
        assert (rows["anomalous"] == (rows["score"] >= rows["threshold"]).astype(int)).all()
    one = sorted(calibration)[0]
    code, output = _score(str(run), str(prepared), "--out", str(tmp_path / "one.csv"), "--nodes", one)
    assert code == 0, output
    assert set(pd.read_csv(tmp_path / "one.csv", dtype={"node": str})["node"]) == {one}
    code, output = _score(str(run), str(prepared), "--out", str(tmp_path / "x.csv"), "--nodes",
                          transferred["node"])
    assert code == 1 and f"node(s) {transferred['node']} not calibrated in the run" in output


def test_score_errors_name_the_folder_and_what_is_missing(transferred, prepared, tmp_path):
    out = str(tmp_path / "x.csv")
    transfer, detector = transferred["transfer"], transferred["detector"]
    cases = [
        (tmp_path / "nowhere", ["model folder", "does not exist"]),
        (transfer, [f"{transfer} is neither a run folder", "no model.json", "it holds saved detectors",
                    str(detector)]),
        (detector.parent, [f"{detector.parent} is neither a run folder", str(detector)]),
    ]
    # a saved detector without its scaler and threshold cannot score raw windows on its own
    bare = tmp_path / "bare"
    shutil.copytree(detector, bare)
    metadata = json.loads((bare / "model.json").read_text())
    metadata.update(scaler=None, threshold=None, threshold_rule=None, calibration=None)
    (bare / "model.json").write_text(json.dumps(metadata))
    cases.append((bare, [f"the saved detector in {bare} cannot score windows on its own",
                         "no threshold, no scaler"]))
    # a detector that does not record its node needs --nodes
    anonymous = tmp_path / "anonymous"
    shutil.copytree(detector, anonymous)
    metadata = json.loads((anonymous / "model.json").read_text())
    metadata["extra"] = None
    (anonymous / "model.json").write_text(json.dumps(metadata))
    cases.append((anonymous, [f"the saved detector in {anonymous} does not record its node", "--nodes"]))
    for folder, messages in cases:
        code, output = _score(str(folder), str(prepared), "--out", out)
        assert code == 1, (folder, output)
        assert output.startswith("Error:") and "Traceback" not in output, output
        for message in messages:
            assert message in output, (message, output)
    code, output = _score(str(anonymous), str(prepared), "--out", out, "--nodes", transferred["node"])
    assert code == 0, output
    assert not child_pids_named("worker_binary")
