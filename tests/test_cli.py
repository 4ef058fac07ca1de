"""The ftl-tff command line: help, version, data commands, errors without tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from ftl_tff_cli.main import main

from ftl_tff import __version__


@pytest.fixture
def runner():
    return CliRunner()


def test_version_and_help(runner):
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output
    for args in (["--help"], ["data", "--help"], ["data", "prepare", "--help"], ["data", "synth", "--help"],
                 ["data", "inspect", "--help"], ["demo", "--help"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 0, (args, result.output)
        assert "Usage:" in result.output


def test_every_option_has_help_text():
    def walk(command):
        yield command
        for sub in getattr(command, "commands", {}).values():
            yield from walk(sub)

    for command in walk(main):
        assert command.help, f"command {command.name} has no help"
        for param in command.params:
            if param.param_type_name == "option" and param.name not in ("help", "version"):
                assert param.help, f"option {param.name} of {command.name} has no help"


def test_prepare_and_inspect_the_real_sample(runner, real_sample, tmp_path):
    out = tmp_path / "prepared"
    result = runner.invoke(main, ["data", "prepare", str(real_sample), "--format", "wide", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "774" in result.output and "Wrote" in result.output
    result = runner.invoke(main, ["data", "inspect", str(out), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["n_features"] == len(payload["feature_columns"]) > 50
    assert {n["node"]: n["anomalous_windows"] for n in payload["nodes"]} == {"10": 774, "38": 348, "104": 841,
                                                                             "355": 111}
    assert all(n["windows"] > 2600 for n in payload["nodes"])
    table = runner.invoke(main, ["data", "inspect", str(out)])
    assert table.exit_code == 0 and "anomalous_windows" in table.output


def test_prepare_options_reach_the_library(runner, small_raw, tmp_path):
    out = tmp_path / "p"
    result = runner.invoke(main, ["data", "prepare", str(small_raw), "--out", str(out), "--label-rule", "drained",
                                  "--nodes", "2", "--plugins", "ipmi_pub", "--window", "30min"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["label_rule"] == "drained" and manifest["window"] == "30min"
    assert list(manifest["nodes"]) == ["2"]
    assert set(manifest["metric_plugins"].values()) == {"ipmi_pub"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["data", "prepare", "/definitely/not/here", "--out", "OUT"], "raw source not found: /definitely/not/here"),
        (["data", "prepare", "SRC", "--out", "OUT", "--plugins", "slurm_pub"], "slurm_pub"),
        (["data", "prepare", "SRC", "--out", "OUT", "--nodes", "12345"], "12345"),
        (["data", "prepare", "SRC", "--out", "OUT", "--window", "7 parsecs"], "invalid window"),
        (["data", "inspect", "NOPE"], "processed dataset not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_1(runner, small_raw, tmp_path, args, message):
    args = [a.replace("SRC", str(small_raw)).replace("OUT", str(tmp_path / "o")).replace("NOPE", str(tmp_path / "n"))
            for a in args]
    result = runner.invoke(main, args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.output.strip().startswith("Error:")


def test_installed_console_script_reports_errors_without_traceback(tmp_path):
    script = [sys.executable, "-m", "ftl_tff_cli.main", "data", "prepare", str(tmp_path / "x"), "--out", str(tmp_path)]
    done = subprocess.run(script, capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"Error: raw source not found: {tmp_path / 'x'}"]


def test_synth_then_prepare(runner, tmp_path):
    raw = tmp_path / "raw"
    result = runner.invoke(main, ["data", "synth", str(raw), "--nodes", "3", "--days", "0.5", "--seed", "4",
                                  "--metric-set", "compact", "--period", "60"])
    assert result.exit_code == 0, result.output
    assert (raw / "ground_truth.csv").exists()
    result = runner.invoke(main, ["data", "prepare", str(raw), "--out", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert len(manifest["nodes"]) == 3
    assert any("non-numeric" in note for note in manifest["notes"])  # string ganglia metrics skipped


def test_federated_on_every_node_suggests_evaluate_not_transfer(runner, tmp_path):
    from ftl_tff._processes import child_pids_named
    from ftl_tff.data import prepare
    from ftl_tff.data.synthetic import generate_raw

    generate_raw(tmp_path / "raw", n_nodes=2, days=2.0, seed=1, metric_set="compact", ipmi_period_s=300,
                 ganglia_period_s=300)
    prepare(tmp_path / "raw", tmp_path / "prepared", "raw")
    prepared, run = tmp_path / "prepared", tmp_path / "run"
    result = runner.invoke(main, ["federated", "--dataset", str(prepared), "--paradigm", "unsupervised", "--nodes",
                                  "2", "--rounds", "1", "--batch-size", "64", "--baselines", "none", "--out",
                                  str(run)])
    assert result.exit_code == 0, result.output
    assert json.loads((run / "selection.json").read_text())["non_participating"] == []
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(f"Wrote {run} (every node of {prepared} took part")
    assert f"ftl-tff evaluate {run} {prepared}" in last and f"ftl-tff stats {run}" in last
    assert "ftl-tff transfer" not in result.output
    assert not child_pids_named("worker_binary")


def test_training_console_has_no_tensorflow_log_lines(tmp_path):
    from ftl_tff._processes import child_pids_named
    from ftl_tff.data import prepare
    from ftl_tff.data.synthetic import generate_raw

    generate_raw(tmp_path / "raw", n_nodes=3, days=2.0, seed=2, metric_set="compact", ipmi_period_s=300,
                 ganglia_period_s=300)
    prepare(tmp_path / "raw", tmp_path / "prepared", "raw")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    command = [sys.executable, "-m", "ftl_tff_cli.main", "train", str(tmp_path / "prepared"), "--rounds", "1",
               "--batch-size", "64", "--baselines", "local,centralized", "--out", str(tmp_path / "run")]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=600)
    assert done.returncode == 0, done.stderr
    console = done.stdout + done.stderr
    noisy = [line for line in console.splitlines()
             if "tensorflow" in line.lower() or line[:1] in ("I", "W", "E") and line[1:5].isdigit()]
    assert not noisy, noisy
    assert "Training 3 node-local baselines" in console  # the user's own progress lines are still there
    assert not child_pids_named("worker_binary")
