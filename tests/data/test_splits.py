"""Tests of per-node chronological and blocked splits and the split report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ftl_tff.data.clients.splits import (
    NodeSplit,
    blocked_split,
    chronological_split,
    normal_only,
    split_report,
)
from ftl_tff.errors import ConfigError, DataError, EmptyNodeError, SchemaError

WINDOWS_PER_DAY = 96


def node_frame(
    n_windows: int, anomalous: slice | None = None, start: str = "2022-09-01"
) -> pd.DataFrame:
    """A node frame of 15-minute windows; ``anomalous`` rows get label 1."""
    index = pd.date_range(start, periods=n_windows, freq="15min", tz="UTC", name="window_start")
    frame = pd.DataFrame(
        {"power": np.arange(n_windows, dtype=float), "temp": np.sin(np.arange(n_windows))},
        index=index,
    )
    frame["label"] = 0
    if anomalous is not None:
        frame.iloc[anomalous, frame.columns.get_loc("label")] = 1
    return frame


def part_of_each_row(frame: pd.DataFrame, split: NodeSplit) -> np.ndarray:
    """One letter per row of ``frame``: R train, V validation, T test, g gap."""
    letters = np.full(len(frame), "?")
    for name, letter in (("train", "R"), ("validation", "V"), ("test", "T"), ("gap", "g")):
        letters[frame.index.get_indexer(split.part(name).index)] = letter
    return letters


def test_chronological_boundaries_and_counts():
    frame = node_frame(100, anomalous=slice(65, 75))
    split = chronological_split(frame, train=0.7, validation=0.1, node="n1")
    assert split.train.index.equals(frame.index[:70])
    assert split.validation.index.equals(frame.index[70:80])
    assert split.test.index.equals(frame.index[80:])
    assert split.gap.empty
    assert split.counts() == {
        "train_windows": 70,
        "train_anomalous": 5,
        "validation_windows": 10,
        "validation_anomalous": 5,
        "test_windows": 20,
        "test_anomalous": 0,
        "gap_windows": 0,
        "gap_anomalous": 0,
    }
    assert (split.node, split.method) == ("n1", "chronological")


@pytest.mark.parametrize(
    ("n_windows", "train", "validation", "expected"),
    [
        (10, 0.8, 0.0, (8, 0, 2)),
        (7, 0.8, 0.0, (5, 0, 2)),
        (10, 0.7, 0.2, (7, 2, 1)),
        (5, 1.0, 0.0, (5, 0, 0)),
    ],
)
def test_chronological_rounds_down(n_windows, train, validation, expected):
    split = chronological_split(node_frame(n_windows), train, validation)
    assert (len(split.train), len(split.validation), len(split.test)) == expected


def test_chronological_too_few_windows_names_the_node():
    with pytest.raises(EmptyNodeError, match="'r207n03'.*train"):
        chronological_split(node_frame(1), 0.8, node="r207n03")
    with pytest.raises(EmptyNodeError, match="'r207n04'.*validation"):
        chronological_split(node_frame(5), 0.8, 0.1, node="r207n04")


@pytest.mark.parametrize(("train", "validation"), [(0.0, 0.0), (1.2, 0.0), (0.9, 0.2), (0.5, -0.1)])
def test_chronological_rejects_bad_shares(train, validation):
    with pytest.raises(ConfigError):
        chronological_split(node_frame(50), train, validation)


def test_split_rejects_unsorted_index_and_missing_label():
    frame = node_frame(20)
    with pytest.raises(DataError, match="sorted"):
        chronological_split(frame.iloc[::-1], node="n1")
    with pytest.raises(SchemaError, match="label"):
        blocked_split(frame.drop(columns="label"), block=4)


@pytest.mark.parametrize("gap", [0, 1, 3])
@pytest.mark.parametrize("block", ["1D", "6h", 40])
def test_blocked_parts_are_disjoint_and_cover_all_rows(block, gap):
    frame = node_frame(30 * WINDOWS_PER_DAY + 17, start="2022-09-01 05:15")
    split = blocked_split(frame, block=block, test_fraction=0.2, validation_fraction=0.1, gap=gap)
    indexes = [split.part(name).index for name in ("train", "validation", "test", "gap")]
    combined = indexes[0].append(indexes[1:])
    assert combined.is_unique
    assert combined.sort_values().equals(frame.index)
    assert split.counts()["gap_windows"] == len(split.gap)
    assert split.gap.empty if gap == 0 else len(split.gap) % gap == 0 and len(split.gap) > 0


@pytest.mark.parametrize("test_fraction", [0.1, 0.2, 0.3])
@pytest.mark.parametrize("block", ["1D", "6h", 96])
def test_blocked_test_share_within_tolerance(block, test_fraction):
    frame = node_frame(60 * WINDOWS_PER_DAY)
    split = blocked_split(frame, block=block, test_fraction=test_fraction)
    assert abs(len(split.test) / len(frame) - test_fraction) < 0.02


def test_blocked_pattern_is_every_fifth_block_from_the_third():
    frame = node_frame(40)
    split = blocked_split(frame, block=4, test_fraction=0.2)
    letters = "".join(part_of_each_row(frame, split)[::4])
    assert letters == "RRTRRRRTRR"


def test_blocked_test_blocks_are_spread_over_the_period():
    frame = node_frame(30 * WINDOWS_PER_DAY)
    split = blocked_split(frame, block="1D", test_fraction=0.2)
    thirds = np.array_split(np.arange(len(frame)), 3)
    in_test = np.isin(frame.index, split.test.index)
    assert all(in_test[rows].any() for rows in thirds)


def test_blocked_gap_separates_different_parts():
    frame = node_frame(20 * WINDOWS_PER_DAY)
    gap = 4
    split = blocked_split(frame, block="1D", test_fraction=0.2, validation_fraction=0.1, gap=gap)
    letters = part_of_each_row(frame, split)
    kept = np.flatnonzero(letters != "g")
    for before, after in zip(kept[:-1], kept[1:]):
        if letters[before] != letters[after]:
            assert after - before - 1 >= gap
    boundaries = int(np.sum(letters[kept][1:] != letters[kept][:-1]))
    assert len(split.gap) == boundaries * gap


def test_blocked_gap_counts_and_short_blocks():
    frame = node_frame(40)
    # Pattern RRTRRRRTRR: blocks 2, 3, 7 and 8 start a new part.
    split = blocked_split(frame, block=4, test_fraction=0.2, gap=3)
    assert len(split.gap) == 4 * 3
    assert len(split.test) == 2 and len(split.train) == 26
    with pytest.raises(EmptyNodeError, match="test"):
        blocked_split(frame, block=4, test_fraction=0.2, gap=4)  # whole test blocks dropped


def test_blocked_finds_anomalies_that_chronological_misses():
    frame = node_frame(30 * WINDOWS_PER_DAY)
    last_fifth = int(0.8 * len(frame))
    frame.iloc[last_fifth:, frame.columns.get_loc("label")] = (
        np.arange(len(frame) - last_fifth) % 7 == 0
    ).astype(int)
    chronological = chronological_split(frame, 0.8).counts()
    blocked = blocked_split(frame, block="1D", test_fraction=0.2).counts()
    assert chronological["train_anomalous"] == 0 and chronological["test_anomalous"] > 0
    assert blocked["train_anomalous"] > 0 and blocked["test_anomalous"] > 0


def test_blocked_skips_empty_time_blocks():
    frame = node_frame(20 * WINDOWS_PER_DAY)
    holed = frame.drop(frame.index[5 * WINDOWS_PER_DAY : 12 * WINDOWS_PER_DAY])
    split = blocked_split(holed, block="1D", test_fraction=0.25)
    assert abs(len(split.test) / len(holed) - 0.25) < 0.05


@pytest.mark.parametrize(
    "options",
    [
        {"block": "abc"},
        {"block": 0},
        {"block": "-1D"},
        {"gap": -1},
        {"gap": 1.5},
        {"test_fraction": 1.0},
        {"test_fraction": 0.6, "validation_fraction": 0.4},
    ],
)
def test_blocked_rejects_bad_options(options):
    with pytest.raises(ConfigError):
        blocked_split(node_frame(200), **options)


def test_blocked_needs_time_index_for_offset_blocks():
    frame = node_frame(200).reset_index(drop=True)
    with pytest.raises(DataError, match="DatetimeIndex"):
        blocked_split(frame, block="1D", node="n9")
    assert len(blocked_split(frame, block=10).test) > 0


def test_blocked_too_few_blocks_names_the_node():
    with pytest.raises(EmptyNodeError, match="'r1n1'.*test"):
        blocked_split(node_frame(WINDOWS_PER_DAY), block="1D", node="r1n1")


def test_split_report_counts_and_warnings():
    healthy = node_frame(100, anomalous=slice(10, 90, 9))
    late_failure = node_frame(100, anomalous=slice(85, 100))
    down_at_end = node_frame(100, anomalous=slice(75, 100))
    splits = {
        node: chronological_split(frame, 0.8, node=node)
        for node, frame in (("a", healthy), ("b", late_failure), ("c", down_at_end))
    }
    report = split_report(splits)
    assert list(report.index) == ["a", "b", "c"]
    assert report.loc["a", "warning"] == ""
    assert report.loc["b", "warning"] == "train: no anomalous windows"
    assert report.loc["c", "warning"] == "test: only anomalous windows"
    assert report.loc["b", "test_anomalous"] == 15
    assert report.loc["b", "train_windows"] == 80
    assert {"validation_windows", "gap_windows", "gap_anomalous"} <= set(report.columns)


def test_normal_only_frame_and_array():
    frame = node_frame(10, anomalous=slice(2, 5))
    normal = normal_only(frame)
    assert len(normal) == 7 and (normal["label"] == 0).all()
    values = frame[["power", "temp"]].to_numpy()
    kept = normal_only(values, frame["label"].to_numpy())
    np.testing.assert_array_equal(kept, normal[["power", "temp"]].to_numpy())
    with pytest.raises(SchemaError):
        normal_only(values)
    with pytest.raises(DataError):
        normal_only(values, np.zeros(3))
