"""Every example script runs, at a tiny size, exactly as a user calls it (so none can rot)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ftl_tff._processes import child_pids_named
from ftl_tff.experiments.config import load_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TINY_DATA = ["--synthetic-nodes", "4", "--synthetic-days", "2"]


def _run(args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    env.pop("FTL_TFF_DATA", None)
    result = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A working folder whose generated example data already exists (where the scripts look for it)."""
    from ftl_tff.data import prepare
    from ftl_tff.data.synthetic import generate_raw

    root = tmp_path_factory.mktemp("examples")
    data = root / "ftl-example-data" / "synthetic-4n-2d"
    generate_raw(data / "raw", n_nodes=4, days=2.0, seed=0, metric_set="compact", ipmi_period_s=60,
                 ganglia_period_s=60, anomaly_rate=1.0)
    prepare(data / "raw", data / "prepared", "raw")
    return root


@pytest.mark.parametrize("script", ["run_federated_unsupervised.py", "run_federated_semisupervised.py",
                                    "run_federated_supervised.py"])
def test_the_papers_federated_command_lines_run(workdir, script):
    result = _run([str(EXAMPLES / script), "--dataset", "D1", "--nodes", "2", "--strategy", "topN", "--rounds", "1",
                   "--batch-size", "64", *TINY_DATA], workdir)
    paradigm = script.removeprefix("run_federated_").removesuffix(".py").replace("semisupervised", "semi-supervised")
    run = workdir / "runs" / f"{paradigm}-topN2-D1"
    assert (run / "model" / "model.json").exists(), result.stdout
    assert "federated" in result.stdout and "Wrote" in result.stdout


def test_the_papers_transfer_command_line_runs(workdir):
    run = workdir / "runs" / "unsupervised-topN2-D1"
    if not run.exists():
        _run([str(EXAMPLES / "run_federated_unsupervised.py"), "--dataset", "D1", "--nodes", "2", "--rounds", "1",
              *TINY_DATA], workdir)
    result = _run([str(EXAMPLES / "run_transfer_learning.py"), "--dataset", "D1", "--pretrained_model",
                   str(run / "model"), "--epochs", "1", *TINY_DATA], workdir)
    per_node = pd.read_csv(workdir / "runs" / "unsupervised-topN2-D1-transfer" / "per_node.csv")
    assert set(per_node["method"]) == {"zero-shot", "fine-tune", "local"}
    assert per_node["node"].nunique() == 2
    assert "Report:" in result.stdout
    assert not child_pids_named("worker_binary")


def test_the_python_api_example_runs_on_the_real_sample(tmp_path):
    result = _run([str(EXAMPLES / "python_api.py"), "--out", str(tmp_path / "api"), "--epochs", "1"], tmp_path)
    assert "saved and reloaded" in result.stdout and "roc_auc" in result.stdout


def test_the_example_experiment_file_is_valid_and_runs_small(workdir, tmp_path):
    config = load_config(EXAMPLES / "experiment.toml")
    assert len(config.cells()) == 18 and config.efficiency_cell() is not None
    prepared = workdir / "ftl-example-data" / "synthetic-4n-2d" / "prepared"
    result = _run(["-m", "ftl_tff_cli.main", "experiment", str(EXAMPLES / "experiment.toml"), "--dataset",
                   str(prepared), "--paradigms", "semi-supervised", "--strategies", "top", "--seeds", "0", "--n-nodes",
                   "2", "--rounds", "1", "--out", str(tmp_path / "exp")], tmp_path)
    assert (tmp_path / "exp" / "report.md").exists(), result.stdout
