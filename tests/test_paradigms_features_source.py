"""What each paradigm does with labels, the named feature sets, and the reader-side window container."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ftl_tff.data.building.features import FEATURE_SETS, column_plugin, feature_set_columns
from ftl_tff.data.readers.source import SourceWindows, nagios_frame, to_utc
from ftl_tff.errors import ConfigError, SchemaError
from ftl_tff.paradigms import DEFAULT_THRESHOLD_RULE, LABEL_FREE_RULES, get_paradigm
from ftl_tff.vocabulary import FEATURE_SETS as FEATURE_SET_NAMES
from ftl_tff.vocabulary import PARADIGMS

# -- paradigms ---------------------------------------------------------------


@pytest.mark.parametrize(("name", "normal_only", "validation_labels"), [
    ("unsupervised", False, False),
    ("semi-supervised", True, False),
    ("supervised", True, True),
])
def test_each_paradigm_uses_labels_as_defined(name, normal_only, validation_labels):
    paradigm = get_paradigm(name)
    assert paradigm.name == name
    assert paradigm.normal_only_training is normal_only
    assert paradigm.uses_validation_labels is validation_labels
    assert paradigm.threshold_rule == ("best_f1" if validation_labels else "label-free")


def test_paradigm_names_accept_underscores_and_reject_others():
    assert get_paradigm("semi_supervised").name == "semi-supervised"
    assert tuple(get_paradigm(n).name for n in PARADIGMS) == ("unsupervised", "semi-supervised", "supervised")
    with pytest.raises(ConfigError, match="unknown paradigm 'weakly'"):
        get_paradigm("weakly")


def test_the_default_rule_is_a_label_free_rule():
    assert DEFAULT_THRESHOLD_RULE in LABEL_FREE_RULES and "best_f1" not in LABEL_FREE_RULES


# -- feature sets --------------------------------------------------------------

MANIFEST = {
    "feature_columns": ["p0_power_avg", "p0_power_std", "load_one_avg", "cov_ipmi", "job_count", "fan0_0"],
    "metric_plugins": {"p0_power": "ipmi_pub", "load_one": "ganglia_pub", "job_count": "job_table",
                       "fan0_0": "ipmi_pub"},
}


def test_column_plugin_strips_statistics_and_names_coverage():
    plugins = MANIFEST["metric_plugins"]
    assert column_plugin("p0_power_avg", plugins) == "ipmi"
    assert column_plugin("load_one_avg", plugins) == "ganglia"
    assert column_plugin("cov_ipmi", plugins) == "coverage"
    assert column_plugin("fan0_0", plugins) == "ipmi"  # a column that is its own metric
    assert column_plugin("mystery_max", plugins) == "unknown"


def test_named_sets_select_their_plugins_in_dataset_order():
    assert set(FEATURE_SETS) == set(FEATURE_SET_NAMES)
    assert feature_set_columns(MANIFEST, "D1") == ["p0_power_avg", "p0_power_std", "load_one_avg", "fan0_0"]
    assert feature_set_columns(MANIFEST, "D2") == MANIFEST["feature_columns"]
    assert feature_set_columns(MANIFEST, "all") == MANIFEST["feature_columns"]
    assert feature_set_columns(MANIFEST, ["fan0_0", "p0_power_avg"]) == ["p0_power_avg", "fan0_0"]


def test_feature_set_errors_name_the_set_or_the_columns():
    with pytest.raises(ConfigError, match="unknown feature set 'D3'"):
        feature_set_columns(MANIFEST, "D3")
    with pytest.raises(SchemaError, match="not_there"):
        feature_set_columns(MANIFEST, ["p0_power_avg", "not_there"])
    with pytest.raises(SchemaError, match="selects no column"):
        feature_set_columns({"feature_columns": ["cov_ipmi"], "metric_plugins": {}}, "D1")


# -- the reader-side container ------------------------------------------------------


def test_source_windows_record_metrics_counts_and_nodes():
    source = SourceWindows(source="/data", format="raw", window="15min")
    source.add_metric("p0_power", "ipmi_pub", {"10": object(), "2": object()})
    source.add_metric("never_seen", "ipmi_pub", {})  # nothing read: not recorded
    source.nagios["b1"] = pd.DataFrame()
    source.count("nan_readings_dropped", 3)
    source.count("nan_readings_dropped")
    assert source.metric_plugins == {"p0_power": "ipmi_pub"} and "never_seen" not in source.metrics
    assert source.counts == {"nan_readings_dropped": 4}
    assert source.nodes == ["2", "10", "b1"]


def test_nagios_frame_is_float_and_indexed_by_window():
    frame = nagios_frame(np.array([0, 900], dtype=np.int64), [0, 2], [0, 0], [0, 1], [0, 0], [np.nan, 1])
    assert list(frame.columns) == ["nagios_state_max", "nagios_warning", "nagios_critical", "nagios_unknown",
                                   "nagios_drained"]
    assert frame.index.name == "window" and frame.index.tolist() == [0, 900]
    assert (frame.dtypes == np.float64).all() and np.isnan(frame.loc[0, "nagios_drained"])


def test_time_bounds_are_utc():
    assert to_utc(None) is None
    assert to_utc("2022-09-01") == pd.Timestamp("2022-09-01", tz="UTC")
    assert to_utc(pd.Timestamp("2022-09-01 02:00", tz="Europe/Rome")) == pd.Timestamp("2022-09-01 00:00", tz="UTC")
