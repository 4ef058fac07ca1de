"""Tests of the synthetic raw M100 generator (ftl_tff.data.synthetic)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ftl_tff.data.synthetic import (
    ANOMALY_KINDS,
    GENERATOR_VERSION,
    NAGIOS_CHECKS,
    SyntheticDataset,
    generate_raw,
)
from ftl_tff.errors import ConfigError

TIMESTAMP = pa.timestamp("ms", tz="UTC")
NODE = pa.dictionary(pa.int32(), pa.string())
IPMI_FLOAT32 = {"ambient", "pcie", "ps0_output_volta", "ps1_output_volta"}
STRING_METRICS = {"gexec", "machine_type", "os_name", "os_release"}
FILE_PATTERN = re.compile(
    r"year_month=\d\d-\d\d/plugin=(ipmi_pub|ganglia_pub|nagios_pub)/metric=[^/=]+/a_\d+\.parquet"
)
# The ipmi metric list of M100_FORMAT.md, less the per-node core sensors.
FULL_IPMI = (
    {"ambient", "pcie", "total_power", "fan_disk_power"}
    | {f"fan{m}_{j}" for m in range(4) for j in (0, 1)}
    | {f"dimm{i}_temp" for i in range(16)}
    | {f"gpu{g}_{kind}_temp" for g in (0, 1, 3, 4) for kind in ("core", "mem")}
    | {f"gv100card{g}" for g in (0, 1, 3, 4)}
    | {f"p{s}_{name}" for s in (0, 1) for name in ("power", "io_power", "mem_power", "vdd_temp")}
    | {f"ps{p}_{name}" for p in (0, 1)
       for name in ("input_power", "input_voltag", "output_curre", "output_volta")}
)
CORE = re.compile(r"p(\d)_core(\d+)_temp")
SMALL = {"n_nodes": 3, "days": 0.5, "seed": 7}


# ---------------------------------------------------------------------------
# helpers and shared data sets (module scope: generated once)
# ---------------------------------------------------------------------------


def parquet_files(root: Path) -> list[Path]:
    return sorted(root.glob("year_month=*/plugin=*/metric=*/*.parquet"))


def read_metric(root: Path, plugin: str, metric: str) -> pd.DataFrame:
    """All rows of one metric across months and files, node as str."""
    files = sorted(root.glob(f"year_month=*/plugin={plugin}/metric={metric}/*.parquet"))
    if not files:
        return pd.DataFrame(columns=["timestamp", "value", "node"])
    frame = pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)
    frame["node"] = frame["node"].astype(str)
    return frame


def node_rows(root: Path, plugin: str, metric: str, node: str) -> pd.DataFrame:
    frame = read_metric(root, plugin, metric)
    return frame[frame["node"] == node].sort_values("timestamp").reset_index(drop=True)


def metric_folders(root: Path, plugin: str) -> set[str]:
    return {p.name.split("=", 1)[1] for p in root.glob(f"year_month=*/plugin={plugin}/metric=*")}


@pytest.fixture(scope="module")
def full_set(tmp_path_factory: pytest.TempPathFactory) -> SyntheticDataset:
    return generate_raw(tmp_path_factory.mktemp("full"), **SMALL, anomaly_rate=4.0)


@pytest.fixture(scope="module")
def compact_set(tmp_path_factory: pytest.TempPathFactory) -> SyntheticDataset:
    return generate_raw(tmp_path_factory.mktemp("compact"), **SMALL, metric_set="compact")


@pytest.fixture(scope="module")
def anomalous_set(tmp_path_factory: pytest.TempPathFactory) -> SyntheticDataset:
    """Four nodes, two days, every kind of episode (seed 0 draws all five)."""
    return generate_raw(tmp_path_factory.mktemp("anomalous"), n_nodes=4, days=2.0, seed=0,
                        ipmi_period_s=60, ganglia_period_s=60, anomaly_rate=3.0)


@pytest.fixture(scope="module")
def anomalous_nagios(anomalous_set: SyntheticDataset) -> pd.DataFrame:
    return read_metric(anomalous_set.root, "nagios_pub", "state")


# ---------------------------------------------------------------------------
# layout and schema
# ---------------------------------------------------------------------------


def test_files_follow_the_hive_layout_without_partition_columns(full_set):
    files = parquet_files(full_set.root)
    assert files
    for path in files:
        assert FILE_PATTERN.fullmatch(path.relative_to(full_set.root).as_posix()), path
        names = pq.read_schema(path).names
        assert not {"year_month", "plugin", "metric"} & set(names), path
    extra = {p.name for p in full_set.root.iterdir() if not p.name.startswith("year_month=")}
    assert extra == {"ground_truth.csv", "README.txt"}


def test_ipmi_and_ganglia_columns_have_the_release_types(full_set):
    ganglia_types = set()
    for plugin in ("ipmi_pub", "ganglia_pub"):
        for path in full_set.root.glob(f"year_month=*/plugin={plugin}/metric=*/*.parquet"):
            metric = path.parent.name.split("=", 1)[1]
            schema = pq.read_schema(path)
            assert schema.names == ["timestamp", "value", "node"], path
            assert schema.field("timestamp").type == TIMESTAMP
            assert schema.field("node").type == NODE
            value = schema.field("value").type
            if plugin == "ipmi_pub":
                assert value == (pa.float32() if metric in IPMI_FLOAT32 else pa.int32()), metric
            else:
                ganglia_types.add(value)
                assert (value == pa.string()) == (metric in STRING_METRICS), metric
                assert value in (pa.int32(), pa.float32(), pa.float64(), pa.string()), metric
    assert ganglia_types == {pa.int32(), pa.float32(), pa.float64(), pa.string()}


def test_nagios_columns_have_the_release_types(full_set):
    paths = list(full_set.root.glob("year_month=*/plugin=nagios_pub/metric=state/*.parquet"))
    assert paths
    schema = pq.read_schema(paths[0])
    assert schema.names == ["timestamp", "value", "description", "host_group",
                            "nagiosdrained", "node", "state_type"]
    expected = {"timestamp": TIMESTAMP, "value": pa.int32(), "description": pa.string(),
                "host_group": pa.string(), "nagiosdrained": pa.string(), "node": NODE,
                "state_type": pa.string()}
    for name, arrow_type in expected.items():
        assert schema.field(name).type == arrow_type, name
    table = pq.read_table(paths[0]).to_pandas()
    assert set(table["nagiosdrained"]) <= {"0", "1"}
    assert set(table["state_type"]) <= {"0", "1"}
    assert set(table["value"]) <= {0, 1, 2, 3}


def test_timestamps_are_whole_seconds_and_files_zstd(full_set):
    for path in parquet_files(full_set.root)[::7]:
        ms = pq.read_table(path, columns=["timestamp"]).column(0).cast(pa.int64()).to_numpy()
        assert (ms % 1000 == 0).all(), path
        meta = pq.ParquetFile(path).metadata
        assert meta.row_group(0).column(0).compression == "ZSTD"


def test_metrics_attribute_lists_the_written_folders(full_set, compact_set):
    for ds in (full_set, compact_set):
        for plugin in ("ipmi_pub", "ganglia_pub", "nagios_pub"):
            assert set(ds.metrics[plugin]) == metric_folders(ds.root, plugin)
        assert ds.metrics["nagios_pub"] == ["state"]
        assert {"os_name", "machine_type"} <= set(ds.metrics["ganglia_pub"])
        values = read_metric(ds.root, "ganglia_pub", "os_name")["value"]
        assert set(values) == {"Linux"}


def test_full_set_has_every_ipmi_metric_of_the_release(full_set):
    ipmi = set(full_set.metrics["ipmi_pub"])
    assert FULL_IPMI <= ipmi
    assert {m for m in ipmi if not CORE.fullmatch(m)} == FULL_IPMI
    ganglia = set(full_set.metrics["ganglia_pub"])
    assert len(ganglia - STRING_METRICS) >= 40
    assert STRING_METRICS <= ganglia
    assert {"cpu_user", "load_one", "mem_free", "swap_free", "bytes_in", "boottime",
            "Gpu0_gpu_temp", "Gpu3_power_usage", "Gpu2_gpu_utilization"} <= ganglia


def test_compact_set_is_a_small_subset_covering_every_family(full_set, compact_set):
    numeric = [m for names in compact_set.metrics.values() for m in names
               if m not in STRING_METRICS and m != "state"]
    assert 25 <= len(numeric) <= 35
    assert set(compact_set.metrics["ipmi_pub"]) <= set(full_set.metrics["ipmi_pub"])
    assert set(compact_set.metrics["ganglia_pub"]) <= set(full_set.metrics["ganglia_pub"])
    for pattern in (r"p0_core\d+_temp", r"p1_core\d+_temp", r"fan\d_\d", r"dimm\d+_temp",
                    r"gpu\d_core_temp", r"p\d_power", r"total_power", r"cpu_\w+", r"load_\w+",
                    r"mem_free", r"Gpu\d_\w+"):
        assert any(re.fullmatch(pattern, m) for m in numeric), pattern


# ---------------------------------------------------------------------------
# nodes and sensors
# ---------------------------------------------------------------------------


def core_sensors(ds: SyntheticDataset) -> dict[str, dict[int, set[int]]]:
    sensors: dict[str, dict[int, set[int]]] = {n: {0: set(), 1: set()} for n in ds.nodes}
    for metric in ds.metrics["ipmi_pub"]:
        match = CORE.fullmatch(metric)
        if match:
            for node in set(read_metric(ds.root, "ipmi_pub", metric)["node"]):
                sensors[node][int(match[1])].add(int(match[2]))
    return sensors


def test_each_node_has_16_core_sensors_per_socket_missing_whole_pairs(full_set):
    sensors = core_sensors(full_set)
    for node, sockets in sensors.items():
        for socket, cores in sockets.items():
            assert len(cores) == 16, (node, socket)
            missing = set(range(24)) - cores
            assert all((c ^ 1) in missing for c in missing), (node, socket, missing)
    layouts = {(frozenset(s[0]), frozenset(s[1])) for s in sensors.values()}
    assert len(layouts) == len(sensors), "nodes should differ in their sensor sets"


def test_compact_core_metrics_follow_the_node_sensor_set(full_set, compact_set):
    full, compact = core_sensors(full_set), core_sensors(compact_set)
    for node in compact_set.nodes:
        for socket in (0, 1):
            assert compact[node][socket] <= full[node][socket]
            offered = {int(CORE.fullmatch(m)[2]) for m in compact_set.metrics["ipmi_pub"]
                       if CORE.fullmatch(m) and m.startswith(f"p{socket}")}
            assert compact[node][socket] == offered & full[node][socket]


def test_node_ids_are_strings_of_compute_ids(full_set):
    assert len(full_set.nodes) == 3
    assert all(n.isdigit() and 0 <= int(n) < 980 for n in full_set.nodes)
    assert set(read_metric(full_set.root, "ipmi_pub", "total_power")["node"]) == set(full_set.nodes)


def test_default_node_choice_keeps_a_prefix_for_larger_runs(tmp_path):
    two = generate_raw(tmp_path / "two", n_nodes=2, days=0.05, seed=3, metric_set="compact")
    four = generate_raw(tmp_path / "four", n_nodes=4, days=0.05, seed=3, metric_set="compact")
    assert set(two.nodes) < set(four.nodes)


def test_nagios_covers_every_check_and_non_compute_hosts(full_set):
    nagios = read_metric(full_set.root, "nagios_pub", "state")
    node_id = nagios["node"].astype(int)
    compute = nagios[node_id < 980]
    assert set(compute["node"]) == set(full_set.nodes)
    assert set(compute["host_group"]) == {"compute"}
    others = nagios[node_id >= 980]
    assert others["node"].nunique() >= 2
    assert "compute" not in set(others["host_group"])
    window = compute["timestamp"].dt.floor("15min")
    per_window = compute.groupby(["node", window])["description"].agg(list)
    assert all(sorted(checks) == sorted(NAGIOS_CHECKS) for checks in per_window)
    assert per_window.groupby(level=0).size().min() == 48  # 0.5 day of 15-min windows


# ---------------------------------------------------------------------------
# time: months, files, sampling
# ---------------------------------------------------------------------------


def test_run_across_a_month_boundary_writes_both_months(tmp_path):
    ds = generate_raw(tmp_path, n_nodes=2, days=0.5, seed=1, start="2022-08-31 18:00",
                      metric_set="compact")
    for plugin, metric in (("ipmi_pub", "total_power"), ("ganglia_pub", "cpu_user"),
                           ("nagios_pub", "state")):
        for label, month in (("22-08", 8), ("22-09", 9)):
            folder = ds.root / f"year_month={label}" / f"plugin={plugin}" / f"metric={metric}"
            frame = pd.concat([pq.read_table(f).to_pandas() for f in folder.glob("*.parquet")])
            assert len(frame) > 0, (label, metric)
            assert (frame["timestamp"].dt.month == month).all(), (label, metric)


def test_files_per_metric_splits_rows_without_changing_them(tmp_path):
    one = generate_raw(tmp_path / "one", **SMALL, metric_set="compact")
    three = generate_raw(tmp_path / "three", **SMALL, metric_set="compact", files_per_metric=3)
    folders = sorted(p for p in three.root.glob("year_month=*/plugin=*/metric=*"))
    assert folders
    for folder in folders:
        assert sorted(p.name for p in folder.glob("*.parquet")) == [
            "a_0.parquet", "a_1.parquet", "a_2.parquet"]
        assert all(pq.read_metadata(p).num_rows > 0 for p in folder.glob("*.parquet"))
        split = pa.concat_tables([pq.read_table(folder / f"a_{i}.parquet") for i in range(3)])
        whole = pq.read_table(one.root / folder.relative_to(three.root) / "a_0.parquet")
        assert split.equals(whole), folder


def test_sampling_is_irregular_and_slower_for_some_ganglia_families(full_set):
    node = full_set.nodes[0]
    ipmi = node_rows(full_set.root, "ipmi_pub", "p0_power", node)["timestamp"]
    steps = ipmi.diff().dropna().dt.total_seconds()
    assert steps.median() == 20
    assert (steps > 20).any()  # dropped samples
    offsets = (ipmi - ipmi.iloc[0]).dt.total_seconds() % 20
    assert 0.001 < (offsets != 0).mean() < 0.5  # a second of jitter on some samples
    gpu = node_rows(full_set.root, "ganglia_pub", "Gpu0_gpu_temp", node)["timestamp"]
    network = node_rows(full_set.root, "ganglia_pub", "bytes_in", node)["timestamp"]
    assert gpu.diff().dt.total_seconds().median() == 20
    assert network.diff().dt.total_seconds().median() == 300


def test_periods_follow_the_arguments(tmp_path):
    ds = generate_raw(tmp_path, n_nodes=1, days=0.2, seed=2, metric_set="compact",
                      ipmi_period_s=60, ganglia_period_s=30)
    node = ds.nodes[0]
    ipmi = node_rows(ds.root, "ipmi_pub", "ambient", node)["timestamp"]
    gpu = node_rows(ds.root, "ganglia_pub", "Gpu0_power_usage", node)["timestamp"]
    assert ipmi.diff().dt.total_seconds().median() == 60
    assert gpu.diff().dt.total_seconds().median() == 30


# ---------------------------------------------------------------------------
# determinism
# ---------------------------------------------------------------------------


def all_tables(root: Path) -> dict[str, pa.Table]:
    return {p.relative_to(root).as_posix(): pq.read_table(p) for p in parquet_files(root)}


def test_same_arguments_give_identical_data(tmp_path):
    first = generate_raw(tmp_path / "a", **SMALL, metric_set="compact", anomaly_rate=4.0)
    second = generate_raw(tmp_path / "b", **SMALL, metric_set="compact", anomaly_rate=4.0)
    a, b = all_tables(first.root), all_tables(second.root)
    assert a.keys() == b.keys()
    assert all(a[key].equals(b[key]) for key in a)
    pd.testing.assert_frame_equal(first.ground_truth, second.ground_truth)


def test_another_seed_gives_other_data(tmp_path):
    first = generate_raw(tmp_path / "a", n_nodes=2, days=0.2, seed=1, metric_set="compact",
                         node_ids=[10, 20])
    second = generate_raw(tmp_path / "b", n_nodes=2, days=0.2, seed=2, metric_set="compact",
                          node_ids=[10, 20])
    a = read_metric(first.root, "ipmi_pub", "total_power")
    b = read_metric(second.root, "ipmi_pub", "total_power")
    assert not a.equals(b)


def test_node_data_do_not_depend_on_the_other_nodes(tmp_path):
    few = generate_raw(tmp_path / "few", node_ids=[300, 641], days=0.5, seed=4,
                       metric_set="compact", anomaly_rate=4.0)
    many = generate_raw(tmp_path / "many", node_ids=[5, 17, 300, 641], days=0.5, seed=4,
                        metric_set="compact", anomaly_rate=4.0)
    for plugin in ("ipmi_pub", "ganglia_pub", "nagios_pub"):
        for metric in few.metrics[plugin]:
            for node in ("300", "641"):
                a = node_rows(few.root, plugin, metric, node)
                b = node_rows(many.root, plugin, metric, node)
                pd.testing.assert_frame_equal(a, b, check_categorical=False)
    truth = many.ground_truth
    pd.testing.assert_frame_equal(
        few.ground_truth, truth[truth["node"].isin(["300", "641"])].reset_index(drop=True))


# ---------------------------------------------------------------------------
# ground truth and anomalies
# ---------------------------------------------------------------------------


def test_ground_truth_frame_csv_and_readme(anomalous_set):
    truth = anomalous_set.ground_truth
    assert list(truth.columns) == ["node", "kind", "start", "end", "nagios_reaction"]
    assert str(truth["start"].dtype) == "datetime64[ns, UTC]"
    assert str(truth["end"].dtype) == "datetime64[ns, UTC]"
    assert (truth["end"] > truth["start"]).all()
    assert set(truth["kind"]) == set(ANOMALY_KINDS)
    assert set(truth["nagios_reaction"]) <= {"critical", "drained", "none"}
    assert set(truth["node"]) <= set(anomalous_set.nodes)
    csv = pd.read_csv(anomalous_set.root / "ground_truth.csv", dtype={"node": str})
    for col in ("start", "end"):
        csv[col] = pd.to_datetime(csv[col], utc=True)
    pd.testing.assert_frame_equal(csv, truth, check_dtype=False)
    readme = (anomalous_set.root / "README.txt").read_text()
    assert "seed: 0" in readme and GENERATOR_VERSION in readme
    assert all(node in readme for node in anomalous_set.nodes)


def test_each_reacted_episode_is_followed_by_a_hard_critical(anomalous_set, anomalous_nagios):
    window = pd.Timedelta("15min")
    reacted = anomalous_set.ground_truth.query("nagios_reaction != 'none'")
    assert len(reacted) >= 5
    for episode in reacted.itertuples():
        rows = anomalous_nagios[anomalous_nagios["node"] == episode.node]
        bad = rows[(rows["value"] == 2) & (rows["timestamp"] >= episode.start)
                   & (rows["timestamp"] <= episode.end + 2 * window)]
        assert len(bad) > 0, episode
        first = bad["timestamp"].min()
        assert first <= episode.start + 3 * window + pd.Timedelta("2min"), episode
        hard = bad[bad["state_type"] == "1"]
        assert len(hard) > 0 and hard["timestamp"].min() < episode.end, episode
        assert bad.loc[bad["timestamp"] == first, "state_type"].eq("0").all(), episode
        drained = rows[(rows["nagiosdrained"] == "1") & (rows["timestamp"] >= episode.start)]
        if episode.nagios_reaction == "drained":
            assert drained["timestamp"].max() > episode.end, episode


def test_node_hang_leaves_a_gap_in_telemetry(anomalous_set):
    hangs = anomalous_set.ground_truth.query("kind == 'node_hang'")
    assert len(hangs) > 0
    margin = pd.Timedelta("30min")
    for plugin, metric in (("ipmi_pub", "total_power"), ("ganglia_pub", "Gpu0_gpu_temp"),
                           ("ganglia_pub", "cpu_user")):
        frame = read_metric(anomalous_set.root, plugin, metric)
        for hang in hangs.itertuples():
            ts = frame.loc[frame["node"] == hang.node, "timestamp"]
            assert not ((ts >= hang.start) & (ts < hang.end)).any(), (metric, hang)
            assert ((ts >= hang.start - margin) & (ts < hang.start)).any(), (metric, hang)
            assert ((ts >= hang.end) & (ts < hang.end + margin)).any(), (metric, hang)
    boot = read_metric(anomalous_set.root, "ganglia_pub", "boottime")
    for hang in hangs.itertuples():
        after = boot[(boot["node"] == hang.node) & (boot["timestamp"] >= hang.end)]
        assert after["value"].iloc[0] == hang.end.timestamp()  # the node rebooted


def during(frame: pd.DataFrame, episode, node: str | None = None) -> pd.DataFrame:
    rows = frame[frame["node"] == (node or episode.node)]
    return rows[(rows["timestamp"] >= episode.start) & (rows["timestamp"] < episode.end)]


def before(frame: pd.DataFrame, episode, hours: float = 2.0) -> pd.DataFrame:
    rows = frame[frame["node"] == episode.node]
    lo = episode.start - pd.Timedelta(hours=hours)
    return rows[(rows["timestamp"] >= lo) & (rows["timestamp"] < episode.start)]


def excess_heat(ds: SyntheticDataset, episode, socket: int) -> float:
    """Mean core temperature above what the socket's power explains, late in an episode.

    A line temperature ~ power is fitted on the node's rows outside every
    episode, so a busy or idle spell alone leaves the excess near 0.
    """
    node = episode.node
    core = next(m for m in ds.metrics["ipmi_pub"]
                if CORE.fullmatch(m) and m.startswith(f"p{socket}_")
                and len(node_rows(ds.root, "ipmi_pub", m, node)) > 0)
    temp = node_rows(ds.root, "ipmi_pub", core, node).set_index("timestamp")["value"]
    power = node_rows(ds.root, "ipmi_pub", f"p{socket}_power", node).set_index("timestamp")["value"]
    joined = pd.concat([power.rename("power"), temp.rename("temp")], axis=1).dropna()
    abnormal = np.zeros(len(joined), dtype=bool)
    for other in ds.ground_truth[ds.ground_truth["node"] == node].itertuples():
        abnormal |= (joined.index >= other.start - pd.Timedelta("1h")) & (
            joined.index < other.end + pd.Timedelta("1h"))
    slope, intercept = np.polyfit(joined["power"][~abnormal], joined["temp"][~abnormal], 1)
    midpoint = episode.start + (episode.end - episode.start) / 2
    late = joined[(joined.index >= midpoint) & (joined.index < episode.end)]
    return float((late["temp"] - (slope * late["power"] + intercept)).mean())


def test_fan_failure_stops_one_fan_and_heats_the_node(anomalous_set):
    root = anomalous_set.root
    fans = {f"fan{m}_{j}": read_metric(root, "ipmi_pub", f"fan{m}_{j}")
            for m in range(4) for j in (0, 1)}
    episodes = list(anomalous_set.ground_truth.query("kind == 'fan_failure'").itertuples())
    assert episodes
    for ep in episodes:
        medians = {name: during(frame, ep)["value"].median() for name, frame in fans.items()}
        dead = [name for name, rpm in medians.items() if rpm < 100]
        assert len(dead) == 1, medians
        assert all(rpm > 6000 for name, rpm in medians.items() if name not in dead), medians
        assert excess_heat(anomalous_set, ep, 0) > 4
        assert excess_heat(anomalous_set, ep, 1) > 4


def test_psu_fault_moves_the_whole_load_to_the_other_psu(anomalous_set):
    root = anomalous_set.root
    ps = [read_metric(root, "ipmi_pub", f"ps{p}_input_power") for p in (0, 1)]
    total = read_metric(root, "ipmi_pub", "total_power")
    for ep in anomalous_set.ground_truth.query("kind == 'psu_fault'").itertuples():
        values = [during(frame, ep)["value"] for frame in ps]
        dead = 0 if values[0].median() == 0 else 1
        assert (values[dead] == 0).all()
        carried = values[1 - dead].median()
        assert carried > 1.5 * before(ps[1 - dead], ep)["value"].median()
        assert carried > during(total, ep)["value"].median()  # PSU input exceeds node power


def test_memory_leak_drains_free_memory_then_swap(anomalous_set):
    root = anomalous_set.root
    mem = read_metric(root, "ganglia_pub", "mem_free")
    swap = read_metric(root, "ganglia_pub", "swap_free")
    for ep in anomalous_set.ground_truth.query("kind == 'memory_leak'").itertuples():
        rows = during(mem, ep)
        assert rows.tail(5)["value"].mean() < 0.2 * rows.head(5)["value"].mean()
        assert during(swap, ep).tail(5)["value"].mean() < 0.7 * before(swap, ep)["value"].mean()


def test_thermal_runaway_heats_one_socket_abnormally(anomalous_set):
    episodes = list(anomalous_set.ground_truth.query("kind == 'thermal_runaway'").itertuples())
    assert episodes
    for ep in episodes:
        excess = sorted(excess_heat(anomalous_set, ep, socket) for socket in (0, 1))
        assert excess[1] > 10, excess  # one socket runs away...
        assert excess[0] < 3, excess  # ...the other does not
    # and the hottest readings leave the real sample's range (p99 69-71 C)
    cores = [m for m in anomalous_set.metrics["ipmi_pub"] if CORE.fullmatch(m)]
    temps = pd.concat([read_metric(anomalous_set.root, "ipmi_pub", m) for m in cores])
    assert max(during(temps, ep)["value"].max() for ep in episodes) > 75


# ---------------------------------------------------------------------------
# plausible values
# ---------------------------------------------------------------------------

RANGES = {
    ("ipmi_pub", "ambient"): (15, 32),
    ("ipmi_pub", "pcie"): (28, 65),
    ("ipmi_pub", "dimm3_temp"): (20, 55),
    ("ipmi_pub", "p0_vdd_temp"): (20, 90),
    ("ipmi_pub", "gpu0_core_temp"): (25, 90),
    ("ipmi_pub", "fan1_0"): (0, 7_000),
    ("ipmi_pub", "fan1_1"): (0, 7_000),
    ("ipmi_pub", "total_power"): (300, 2_000),
    ("ipmi_pub", "p1_power"): (5, 250),
    ("ipmi_pub", "ps0_input_voltag"): (0, 240),
    ("ipmi_pub", "gv100card0"): (0, 0),
    ("ganglia_pub", "cpu_user"): (0, 100),
    ("ganglia_pub", "cpu_idle"): (0, 100),
    ("ganglia_pub", "load_one"): (0, 200),
    ("ganglia_pub", "mem_free"): (0, 3.36e8),
    ("ganglia_pub", "swap_free"): (0, 4.2e6),
    ("ganglia_pub", "boottime"): (1.6e9, 1.67e9),
    ("ganglia_pub", "Gpu1_gpu_utilization"): (0, 100),
    ("ganglia_pub", "Gpu1_power_usage"): (30, 320),
}


def test_values_lie_in_plausible_ranges(full_set):
    for (plugin, metric), (lo, hi) in RANGES.items():
        values = read_metric(full_set.root, plugin, metric)["value"].astype(float)
        assert len(values) > 0, metric
        assert lo <= values.min() and values.max() <= hi, (metric, values.min(), values.max())


def test_typical_values_match_the_real_sample(anomalous_set):
    root = anomalous_set.root
    expected = {  # medians of the real September 2022 sample, with a tolerance
        "ambient": (20, 26),
        "dimm0_temp": (27, 36),
        "fan0_0": (4_000, 5_000),
        "fan0_1": (4_400, 5_400),
        "total_power": (420, 900),
        "ps0_input_voltag": (224, 231),
    }
    for metric, (lo, hi) in expected.items():
        median = read_metric(root, "ipmi_pub", metric)["value"].median()
        assert lo <= median <= hi, (metric, median)
    cores = [m for m in anomalous_set.metrics["ipmi_pub"] if CORE.fullmatch(m)][:6]
    core_median = pd.concat([read_metric(root, "ipmi_pub", m) for m in cores])["value"].median()
    assert 35 <= core_median <= 55
    mem = read_metric(root, "ganglia_pub", "mem_free")["value"].median()
    assert 2.0e8 <= mem <= 3.3e8
    util = read_metric(root, "ganglia_pub", "Gpu0_gpu_utilization")["value"]
    assert 0 < (util > 0).mean() < 1  # GPUs both idle and busy


def test_busy_nodes_draw_more_power_and_run_hotter(anomalous_set):
    root = anomalous_set.root
    power = read_metric(root, "ipmi_pub", "p0_power").set_index(["node", "timestamp"])["value"]
    vdd = read_metric(root, "ipmi_pub", "p0_vdd_temp").set_index(["node", "timestamp"])["value"]
    joined = pd.concat([power.rename("power"), vdd.rename("vdd")], axis=1).dropna()
    assert joined["power"].corr(joined["vdd"]) > 0.6


# ---------------------------------------------------------------------------
# arguments
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_nodes": 0}, "n_nodes"),
        ({"n_nodes": 981}, "n_nodes"),
        ({"days": 0}, "days"),
        ({"days": -1.0}, "days"),
        ({"metric_set": "huge"}, "metric_set"),
        ({"seed": -1}, "seed"),
        ({"ipmi_period_s": 0}, "ipmi_period_s"),
        ({"files_per_metric": 0}, "files_per_metric"),
        ({"anomaly_rate": -0.1}, "anomaly_rate"),
        ({"node_ids": [1, 1]}, "node_ids"),
        ({"node_ids": [980]}, "node_ids"),
        ({"start": "not a date"}, "start"),
    ],
)
def test_invalid_arguments_raise_config_error(tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        generate_raw(tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_refuses_a_non_empty_folder_unless_overwrite(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not empty"):
        generate_raw(tmp_path, n_nodes=1, days=0.05, metric_set="compact")
    out = tmp_path / "out"
    generate_raw(out, n_nodes=1, days=0.05, metric_set="compact", files_per_metric=2)
    ds = generate_raw(out, n_nodes=1, days=0.05, metric_set="compact", overwrite=True)
    assert {p.name for p in (out / "year_month=22-09/plugin=ipmi_pub/metric=ambient").iterdir()} \
        == {"a_0.parquet"}
    assert (tmp_path / "notes.txt").exists() and ds.nodes


def test_node_ids_pick_the_nodes(tmp_path):
    ds = generate_raw(tmp_path, node_ids=[42, 7, "381"], days=0.05, metric_set="compact")
    assert ds.nodes == ["7", "42", "381"]
    assert set(read_metric(ds.root, "ipmi_pub", "ambient")["node"]) == {"7", "42", "381"}
    assert np.isin(ds.ground_truth["node"], ds.nodes).all()
