"""The configuration tree: one default and one validation per field, flat keys, files, and the CLI built on it."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from ftl_tff_cli.main import main
from ftl_tff_cli.options import file_options

from ftl_tff.config import (
    GROUPS,
    FedAvgConfig,
    RunConfig,
    ScoringConfig,
    SplitConfig,
    TransferConfig,
    flat_fields,
)
from ftl_tff.data import prepare
from ftl_tff.data.synthetic import generate_raw
from ftl_tff.detection import AnomalyDetector
from ftl_tff.errors import ConfigError
from ftl_tff.experiments.config import TRAINING_KEYS, ExperimentConfig
from ftl_tff.runs import select_first_nodes, train_run


def test_every_leaf_name_is_unique_and_routes_to_its_group():
    names = [f.name for f in fields(RunConfig) if f.name not in GROUPS]
    for group in GROUPS.values():
        names += [f.name for f in fields(group)]
    assert len(names) == len(set(names)) == len(flat_fields(RunConfig))
    config = RunConfig.from_flat({"rounds": 7, "block": "1D", "threshold": "iqr", "workers": ["h:1"],
                                  "encoder_units": [8, 4], "paradigm": "unsupervised"})
    assert (config.fedavg.rounds, config.data.block, config.scoring.threshold) == (7, "1D", "iqr")
    assert config.runtime.workers == ("h:1",) and config.model.encoder_units == (8, 4)
    assert config.paradigm == "unsupervised" and config.fedavg.batch_size == FedAvgConfig().batch_size


def test_group_tables_and_flat_keys_give_the_same_configuration():
    nested = RunConfig.from_flat({"fedavg": {"rounds": 3, "client_optimizer": "sgdm"}, "scoring": {"gap_weight": 0}})
    flat = RunConfig.from_flat({"rounds": 3, "client_optimizer": "sgdm", "gap_weight": 0})
    assert nested == flat


@pytest.mark.parametrize(("options", "message"), [
    ({"roundz": 3}, "unknown option 'roundz'"),
    ({"fedavg": {"block": "6h"}}, "unknown option fedavg.block"),
    ({"rounds": 0}, "fedavg.rounds: must be an integer >= 1"),
    ({"client_optimizer": "adagrad"}, "fedavg.client_optimizer: unknown value 'adagrad'"),
    ({"train": 0.9, "validation": 0.2}, "data.validation: train + validation must leave a test part"),
    ({"split": "random"}, "data.split: unknown value 'random'"),
    ({"threshold": "transferred"}, "scoring.threshold: 'transferred' applies to transfer targets"),
    ({"percentile": 100}, "scoring.percentile: must be a number in (0, 100)"),
    ({"baselines": ["federated"]}, "run.baselines: unknown baseline(s) federated"),
    ({"workers": ["nohost"]}, "runtime.workers: each worker must be host:port"),
    ({"encoder_units": [8, 0]}, "model.encoder_units: must be positive integer widths"),
    ({"seed": -1}, "run.seed: must be an integer >= 0"),
])
def test_invalid_values_name_the_field(options, message):
    with pytest.raises(ConfigError) as error:
        RunConfig.from_flat(options)
    assert message in str(error.value)


def test_the_cli_words_a_library_error_by_its_flag():
    from ftl_tff_cli.common import in_flags

    assert in_flags("fedavg.client_optimizer: unknown value 'x'") == "--client-optimizer: unknown value 'x'"
    assert in_flags("n_nodes: must be between 1 and 4") == "--nodes: must be between 1 and 4"
    assert in_flags("use another folder, or fresh=True to start over") == "use another folder, or --fresh to start over"
    assert in_flags("/data/x.toml: invalid TOML") == "/data/x.toml: invalid TOML"  # not a parameter: as it is


def test_an_optimizer_the_detector_cannot_build_is_refused_before_training():
    # sgdm is one name for the clients, the baselines and fine-tuning alike.
    assert RunConfig.from_flat({"client_optimizer": "sgdm"}).detector_params()["optimizer"] == "sgdm"
    AnomalyDetector(encoder_units=(4, 2), epochs=1, optimizer="sgdm").fit(np.random.default_rng(0).random((20, 5)))
    with pytest.raises(ConfigError, match="transfer.optimizer"):
        TransferConfig(optimizer="adagrad").validate()


def test_a_config_json_with_an_unknown_key_is_refused():
    with pytest.raises(ConfigError, match="roundz"):
        RunConfig.from_dict({"dataset": "d", "paradigm": "supervised", "roundz": 3})


def test_json_round_trip_and_the_flat_config_json_of_0_1():
    config = RunConfig.from_flat({"paradigm": "supervised", "nodes": ["1", "2"], "rounds": 3,
                                  "selection": {"strategy": "top", "participating": ["1", "2"]}})
    saved = json.loads(json.dumps(config.to_dict()))
    assert saved["fedavg"]["rounds"] == 3 and saved["nodes"] == ["1", "2"]
    assert RunConfig.from_dict(saved) == config
    old = {"dataset": "d", "paradigm": "supervised", "nodes": ["1", "2"], "rounds": 3, "batch_size": 32,
           "client_learning_rate": 0.001, "percentile": 99.0, "selection": config.selection}
    assert RunConfig.from_dict(old) == config


def test_the_defaults_are_written_once():
    assert RunConfig().fedavg == FedAvgConfig() and RunConfig().scoring == ScoringConfig()
    assert RunConfig().data == SplitConfig() and SplitConfig().split == "blocked"
    assert set(TRAINING_KEYS) == set(flat_fields(RunConfig)) - {"paradigm", "seed", "features", "baselines",
                                                                 "nodes", "selection"}
    assert ExperimentConfig(dataset="d").training == RunConfig()


def test_transfer_options_of_an_experiment_file(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text('paradigms = ["unsupervised"]\nseeds = [4]\nn_nodes = [2]\nstrategies = ["random"]\n'
                    '[training]\nrounds = 2\n[transfer]\nepochs = 3\nmodes = ["fine-tune"]\n')
    options = file_options(path)
    assert options["transfer"] == TransferConfig(epochs=3, modes=("fine-tune",))
    assert options["run"]["paradigm"] == "unsupervised" and options["run"]["seed"] == 4
    assert options["run"]["rounds"] == 2 and options["n_nodes"] == 2 and options["strategy"] == "random"
    path.write_text('paradigms = ["unsupervised", "supervised"]\n')
    with pytest.raises(ConfigError, match="paradigms lists 2 values"):
        file_options(path)
    assert file_options(path, {"paradigm": "supervised"})["run"]["paradigm"] == "supervised"
    # A command that takes no paradigm (transfer reads the source run's) ignores the grid.
    assert "paradigm" not in file_options(path, grid=())["run"]


# -- the same run from Python, a TOML file and flags ------------------------------

SETTINGS = {"paradigm": "unsupervised", "rounds": 2, "batch_size": 64, "encoder_units": [8, 4],
            "threshold": "iqr", "block": "4h", "gap_weight": 0.5, "baselines": [], "seed": 3}
FLAGS = ["--paradigm", "unsupervised", "--rounds", "2", "--batch-size", "64", "--encoder-units", "8,4",
         "--threshold", "iqr", "--block", "4h", "--gap-weight", "0.5", "--baselines", "none", "--seed", "3"]
TOML = ('paradigms = ["unsupervised"]\nseeds = [3]\nbaselines = []\n'
        '[training]\nthreshold = "iqr"\nblock = "4h"\ngap_weight = 0.5\n'
        '[training.fedavg]\nrounds = 2\nbatch_size = 64\n[training.model]\nencoder_units = [8, 4]\n')


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("config")
    generate_raw(root / "raw", n_nodes=3, days=2.0, seed=4, metric_set="compact", ipmi_period_s=120,
                 ganglia_period_s=120, anomaly_rate=2.0)
    prepare(root / "raw", root / "prepared", "raw")
    return root / "prepared"


def _invoke(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output


def test_python_a_toml_file_and_flags_give_the_same_run(prepared, tmp_path):
    from ftl_tff.data import load_dataset

    dataset = load_dataset(prepared)
    config = RunConfig.from_flat({**SETTINGS, "nodes": select_first_nodes(dataset, 2)})
    train_run(dataset, tmp_path / "python", config, echo=lambda line: None, progress=False)
    _invoke(["train", str(prepared), "--nodes", "2", "--out", str(tmp_path / "flags"), *FLAGS])
    (tmp_path / "run.toml").write_text(TOML)
    _invoke(["train", str(prepared), "--nodes", "2", "--out", str(tmp_path / "file"), "--config",
             str(tmp_path / "run.toml")])
    # A flag overrides the file.
    _invoke(["train", str(prepared), "--nodes", "2", "--out", str(tmp_path / "override"), "--config",
             str(tmp_path / "run.toml"), "--rounds", "1"])

    saved = {name: json.loads((tmp_path / name / "config.json").read_text())
             for name in ("python", "flags", "file", "override")}
    assert saved["python"] == saved["flags"] == saved["file"]
    assert saved["override"]["fedavg"]["rounds"] == 1 and saved["override"]["scoring"]["threshold"] == "iqr"
    reference = pd.read_csv(tmp_path / "python" / "metrics_per_node.csv")
    for name in ("flags", "file"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / name / "metrics_per_node.csv"), reference)
        weights = AnomalyDetector.load(tmp_path / name / "model").model_.get_weights()
        expected = AnomalyDetector.load(tmp_path / "python" / "model").model_.get_weights()
        assert all(np.array_equal(a, b) for a, b in zip(weights, expected))
