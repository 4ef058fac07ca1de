"""Top-N and Random-N node selection."""

from __future__ import annotations

import pandas as pd
import pytest

from ftl_tff.errors import ConfigError, SchemaError
from ftl_tff.selection import RandomN, TopN


@pytest.fixture
def table():
    return pd.DataFrame(
        {
            "node": ["10", "38", "104", "355", "7"],
            "windows": [100, 300, 200, 300, 50],
            "anomalous_windows": [50, 10, 20, 60, 0],
            "missing_share": [0.5, 0.1, 0.0, 0.2, 0.3],
        }
    )


@pytest.mark.parametrize(
    "by, expected",
    [
        ("training_windows", ["38", "355"]),  # tie at 300 broken by node id
        ("normal_windows", ["38", "355"]),  # 290, 240
        ("anomaly_rate", ["10", "355"]),  # 0.5, 0.2
        ("completeness", ["104", "38"]),  # 1.0, 0.9
    ],
)
def test_top_n_respects_its_criterion(table, by, expected):
    selection = TopN(2, by=by).select(table)
    assert selection.participating == expected
    assert set(selection.non_participating) == set(table["node"]) - set(expected)
    assert selection.criterion == by and selection.strategy == "top"


def test_top_n_with_a_callable_and_row_order_independence(table):
    def fewest_windows(t):
        return -t["windows"]

    assert TopN(1, by=fewest_windows).select(table).participating == ["7"]
    shuffled = table.sample(frac=1, random_state=3)
    assert TopN(3).select(shuffled).participating == TopN(3).select(table).participating


def test_random_n_is_deterministic_for_a_seed_and_order_free(table):
    first = RandomN(3, seed=4).select(table)
    again = RandomN(3, seed=4).select(table.sample(frac=1, random_state=1))
    assert first.participating == again.participating
    assert len(set(first.participating)) == 3 and first.seed == 4
    draws = {tuple(RandomN(3, seed=s).select(table).participating) for s in range(20)}
    assert len(draws) > 1  # the seed matters


def test_selection_errors(table):
    with pytest.raises(ConfigError, match="cannot select 9"):
        TopN(9).select(table)
    with pytest.raises(ConfigError, match="positive"):
        RandomN(0).select(table)
    with pytest.raises(ConfigError, match="unknown criterion"):
        TopN(1, by="vibes").select(table)
    with pytest.raises(SchemaError, match="missing_share"):
        TopN(1, by="completeness").select(table.drop(columns="missing_share"))
    with pytest.raises(SchemaError, match="twice"):
        TopN(1).select(pd.concat([table, table.iloc[[0]]]))


def test_selection_record_is_json_safe(table):
    import json

    record = TopN(2).select(table).to_dict()
    assert json.loads(json.dumps(record))["participating"] == ["38", "355"]
