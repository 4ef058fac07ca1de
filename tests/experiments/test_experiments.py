"""Experiment configs, the resumable grid runner, the report, and the CLI commands around them.

Real TFF on a tiny generated dataset (4 nodes x 3 days); every cell trains a
federated model and transfers it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from ftl_tff_cli.main import main

from ftl_tff._processes import child_pids_named
from ftl_tff.data import prepare
from ftl_tff.data.synthetic import generate_raw
from ftl_tff.errors import ConfigError
from ftl_tff.experiments.config import ExperimentConfig, load_config
from ftl_tff.experiments.report import comparison_tables, read_per_node, tables_markdown
from ftl_tff.experiments.runner import run_experiment

TINY = {"rounds": 2, "batch_size": 64, "encoder_units": [16, 4], "train": 0.6, "validation": 0.2}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("experiments")
    generate_raw(root / "raw", n_nodes=4, days=3.0, seed=2, metric_set="compact", ipmi_period_s=120,
                 ganglia_period_s=120, anomaly_rate=2.0)
    prepare(root / "raw", root / "prepared", "raw")
    return root / "prepared"


def _config(prepared: Path, **changes) -> ExperimentConfig:
    values = {"dataset": str(prepared), "name": "tiny", "paradigms": ["semi-supervised"],
              "strategies": ["top", "random"], "n_nodes": [2], "seeds": [0], "baselines": ["local"],
              "training": dict(TINY), "transfer": {"epochs": 1, "modes": ["zero-shot", "fine-tune"]},
              "data_efficiency": {"days": [0.5]}}
    values.update(changes)
    return ExperimentConfig(**values)


def test_toml_and_yaml_files_give_the_same_experiment(tmp_path, prepared):
    toml = tmp_path / "exp.toml"
    toml.write_text(f'name = "x"\ndataset = "{prepared}"\nparadigms = ["supervised"]\nstrategies = ["topN"]\n'
                    'n_nodes = [2]\nseeds = [0, 1]\n[training]\nrounds = 3\n[transfer]\nepochs = 2\n')
    yaml = tmp_path / "exp.yaml"
    yaml.write_text(f"name: x\ndataset: {prepared}\nparadigms: [supervised]\nstrategies: [top]\nn_nodes: [2]\n"
                    "seeds: [0, 1]\ntraining:\n  rounds: 3\ntransfer:\n  epochs: 2\n")
    a, b = load_config(toml), load_config(yaml)
    assert a.to_dict() == b.to_dict() and a.fingerprint() == b.fingerprint()
    assert [c.cell_id for c in a.cells()] == ["supervised_top2_seed0", "supervised_top2_seed1"]
    assert a.train_config(a.cells()[1]).fedavg.rounds == 3 and a.train_config(a.cells()[1]).seed == 1


def test_a_relative_dataset_is_read_relative_to_the_file(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "exp.toml"
    path.write_text('dataset = "../prepared"\n')
    assert load_config(path).dataset == str((tmp_path / "prepared").resolve())


@pytest.mark.parametrize(("text", "message"), [
    ('dataset = "d"\nroundz = 3\n', "unknown key(s) roundz"),
    ('dataset = "d"\n[training]\nrondz = 3\n', "training: unknown option(s) rondz"),
    ('dataset = "d"\nparadigms = ["weakly"]\n', "unknown paradigm 'weakly'"),
    ('dataset = "d"\nstrategies = ["best"]\n', "unknown strategy 'best'"),
    ('dataset = "d"\nn_nodes = [0]\n', "n_nodes must be integers >= 1"),
    ('dataset = "d"\nseeds = "x"\n', "seeds must be integers"),
    ('dataset = "d"\n[training]\nrounds = 0\n', "rounds"),
    ('dataset = "d"\n[transfer]\nmodes = ["warm"]\n', "transfer.modes: unknown mode(s) warm"),
    ('dataset = "d"\n[data_efficiency]\ndays = [1]\nseed = 7\n', "not in the grid"),
    ('name = "no dataset"\n', "missing key 'dataset'"),
    ('dataset = \n', "invalid TOML"),
])
def test_bad_experiment_files_name_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert message in str(error.value) and str(path) in str(error.value)


def test_an_empty_data_efficiency_table_means_no_study(prepared):
    assert _config(prepared, data_efficiency={"days": []}).efficiency_cell() is None
    assert _config(prepared, data_efficiency={}).efficiency_cell() is None


def test_overrides_replace_keys_and_merge_tables(prepared):
    config = _config(prepared).with_overrides(seeds=[3], training={"rounds": 5}, paradigms=None)
    assert config.seeds == [3] and config.training.fedavg.rounds == 5 and config.training.fedavg.batch_size == 64
    assert config.paradigms == ["semi-supervised"]
    with pytest.raises(ConfigError, match="unknown experiment option"):
        config.with_overrides(colour="red")


def _numbers(per_node: pd.DataFrame) -> pd.DataFrame:
    keys = ["paradigm", "strategy", "n_nodes", "seed", "node", "role", "method"]
    columns = [*keys, "threshold", "f1", "roc_auc", "precision", "recall"]
    return per_node[columns].sort_values(keys).reset_index(drop=True)


def test_an_interrupted_experiment_resumes_to_the_same_results(prepared, tmp_path):
    config = _config(prepared)
    whole = run_experiment(config, tmp_path / "whole", echo=lambda _: None, progress=False)
    assert whole.cells_run == ["semi-supervised_top2_seed0", "semi-supervised_random2_seed0"]
    for name in ("report.md", "per_node.csv", "per_node.parquet", "deltas.csv", "curves.csv", "efficiency.csv",
                 "stats/comparisons.md", "figures/delta_f1_per_node.png", "figures/training_curves.png",
                 "figures/data_efficiency.png", "cells/semi-supervised_top2_seed0/run/model/model.json"):
        assert (tmp_path / "whole" / name).exists(), name
    roles = whole.per_node.groupby("role")["node"].nunique()
    assert roles["participating"] >= 2 and roles["non-participating"] >= 2
    selection = json.loads((tmp_path / "whole/cells/semi-supervised_top2_seed0/selection.json").read_text())
    assert selection["criterion"] == "training_windows" and len(selection["participating"]) == 2

    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, tmp_path / "resumed", echo=lambda _: None, progress=False, stop_after=1)
    assert not (tmp_path / "resumed" / "report.md").exists()
    resumed = run_experiment(config, tmp_path / "resumed", echo=lambda _: None, progress=False)
    assert resumed.cells_skipped == ["semi-supervised_top2_seed0"]
    assert resumed.cells_run == ["semi-supervised_random2_seed0"]
    pd.testing.assert_frame_equal(_numbers(resumed.per_node), _numbers(whole.per_node), check_exact=False,
                                  rtol=1e-6)
    again = run_experiment(config, tmp_path / "resumed", echo=lambda _: None, progress=False)
    assert again.cells_run == [] and len(again.cells_skipped) == 2
    # The report's metric and the data-efficiency study do not invalidate finished cells.
    study = config.with_overrides(metric="roc_auc", data_efficiency={"days": [0.25, 0.5]})
    changed = run_experiment(study, tmp_path / "resumed", echo=lambda _: None, progress=False)
    assert changed.cells_run == [] and set(changed.efficiency["curve"]) == {"0.25d", "0.5d", "full"}
    assert not child_pids_named("worker_binary")

    with pytest.raises(ConfigError, match="different experiment.*seeds"):
        run_experiment(config.with_overrides(seeds=[1]), tmp_path / "resumed", echo=lambda _: None)


def _per_node_table(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for strategy in ("top", "random"):
        for paradigm in ("unsupervised", "semi-supervised", "supervised"):
            for node in range(8):
                local = rng.uniform(0.2, 0.5)
                for method, value in (("local", local), ("fine-tune", local + 0.2 + rng.normal(0, 0.02)),
                                      ("zero-shot", local + rng.normal(0, 0.05))):
                    rows.append({"paradigm": paradigm, "strategy": strategy, "n_nodes": 10, "seed": 0,
                                 "node": f"{strategy[0]}{node}", "role": "non-participating", "method": method,
                                 "f1": value})
    return pd.DataFrame(rows)


def test_comparison_tables_pair_nodes_and_test_every_question():
    tables = comparison_tables(_per_node_table())
    paired = tables["transfer_vs_local"]
    assert len(paired) == 2 * 3 * 2  # strategies x paradigms x modes
    fine = paired[paired["comparison"] == "fine-tune vs local"]
    assert (fine["n"] == 8).all() and (fine["n_a_better"] == 8).all() and (fine["p_value"] < 0.05).all()
    assert (fine["effect"] == "large").all()
    assert len(tables["top_vs_random"]) == 3
    assert len(tables["paradigms"]) == 2 and len(tables["methods"]) == 6
    text = tables_markdown(tables)
    assert "fine-tune beats local on 8 of 8 nodes" in text and "Friedman" in text


def test_read_per_node_accepts_folders_and_files(tmp_path):
    table = _per_node_table()
    table.to_csv(tmp_path / "per_node.csv", index=False)
    assert len(read_per_node(tmp_path)) == len(table)
    assert len(read_per_node(tmp_path / "per_node.csv")) == len(table)
    from ftl_tff.errors import SourceNotFoundError

    with pytest.raises(SourceNotFoundError, match="no per_node"):
        read_per_node(tmp_path / "missing")


def test_cli_federated_transfer_stats(prepared, tmp_path):
    runner = CliRunner()
    run = tmp_path / "fed"
    result = runner.invoke(main, ["federated", "--dataset", str(prepared), "--paradigm", "unsupervised", "--nodes",
                                  "2", "--strategy", "randomN", "--seed", "4", "--rounds", "2", "--batch-size", "64",
                                  "--baselines", "none", "--features", "D1", "--out", str(run)])
    assert result.exit_code == 0, result.output
    selection = json.loads((run / "selection.json").read_text())
    assert selection["strategy"] == "random" and selection["seed"] == 4 and len(selection["non_participating"]) == 2
    assert json.loads((run / "config.json").read_text())["features"] == "D1"
    out = tmp_path / "transfer"
    result = runner.invoke(main, ["transfer", "--dataset", str(prepared), "--pretrained-model", str(run / "model"),
                                  "--mode", "zero-shot", "--mode", "fine-tune", "--epochs", "1", "--save-models",
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    per_node = pd.read_csv(out / "per_node.csv", dtype={"node": str})
    assert sorted(per_node["node"].unique()) == sorted(selection["non_participating"])
    assert set(per_node["method"]) == {"zero-shot", "fine-tune", "local"}
    assert (out / "report.md").exists() and (out / "deltas.csv").exists()
    assert (out / "models" / selection["non_participating"][0] / "fine-tune" / "model.json").exists()
    result = runner.invoke(main, ["stats", str(out)])
    assert result.exit_code == 0 and "fine-tune vs local" in result.output
    result = runner.invoke(main, ["stats", str(out), "--format", "latex"])
    assert result.exit_code == 0 and "\\toprule" in result.output
    assert not child_pids_named("worker_binary")


def test_cli_errors_are_one_line(prepared, tmp_path):
    runner = CliRunner()
    for args, message in (
        (["stats", str(tmp_path / "nothing")], "no per_node"),
        (["transfer", "--dataset", str(prepared), "--pretrained-model", str(tmp_path), "--out", str(tmp_path / "o")],
         "is not a run folder"),
        (["experiment", str(tmp_path / "missing.toml")], "experiment file not found"),
        (["experiment"], "give an experiment file or at least --dataset"),
        (["federated", "--dataset", str(prepared), "--nodes", "9", "--out", str(tmp_path / "f")], "cannot select 9"),
    ):
        result = runner.invoke(main, args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output and "Traceback" not in result.output
