"""Deterministic synthetic Marconi100 telemetry in the raw ExaData layout.

:func:`generate_raw` writes a small, fully known M100-like data set: the hive
folders of the raw Zenodo release (``year_month=YY-MM/plugin=P/metric=M/
a_{i}.parquet``) for ``ipmi_pub``, ``ganglia_pub`` and ``nagios_pub``, with the
exact Arrow types of the real files, plus ``ground_truth.csv`` listing the
injected anomaly episodes. Tests, benchmarks and the demo use it in place of
the 49.9 TB original.

How the data are made
---------------------
Each node has a latent state on a 60 s grid: job episodes (busy / idle, hours
long; 70% GPU jobs that barely load the CPU, 30% CPU jobs), the rack's inlet
temperature (daily cycle plus a slow random walk), and anomaly effects. Power
follows load, temperatures follow power through first-order lags (cores
~2.5 min, GPUs ~3 min, DIMMs ~15 min), fans follow the hottest component,
memory, load averages, the idle-since-boot average and the GPU energy counters
follow the jobs. Every metric samples that state at its own timestamps (per
node phase, a second of jitter, dropped samples, short benign outages) and adds
its own sensor offset, gain and noise, then is cast to the metric's type
(IPMI integers are rounded, as the BMC does).

Every random draw comes from ``np.random.default_rng`` seeded by ``(seed,
node, purpose)`` (or ``(seed, rack, purpose)`` for rack-level signals), so the
data of a node do not depend on which other nodes are generated, nor on the
month split or ``files_per_metric``.

Anomaly episodes (kinds in :data:`ANOMALY_KINDS`) and their Nagios reaction:

- ``fan_failure``: one fan reads 0-50 RPM, the others go to full speed, core
  temperatures rise by 6-12 C (VRMs by 60% of that, DIMMs by half);
  ``sys::rvitals`` and ``bmc::events`` go CRITICAL.
- ``memory_leak``: ``mem_free`` falls steadily to ~0, then swap fills
  (``swap_free`` falls, ``cpu_wio`` and the load rise); ``batchs::client::state``.
- ``thermal_runaway``: one socket's core temperatures climb by 30-50 C
  (capped at 105 C), its power rises, fans spin up; ``sys::rvitals``.
- ``node_hang``: the node sends no IPMI or Ganglia sample for the whole
  episode, then reboots (``boottime`` jumps, counters restart);
  ``alive::ping`` and ``ssh::daemon`` CRITICAL, every other check UNKNOWN,
  as on the real nodes.
- ``psu_fault``: one PSU's input power, voltage, output current and voltage
  read 0 and the other carries the whole load; ``bmc::events``, ``sys::rvitals``.

A reacting check first fails 1-3 Nagios windows (15 min) after the episode
starts, stays SOFT (``state_type`` '0') for 1-2 checks, then HARD ('1') until
the episode ends (plus 0-1 window). A ``drained`` reaction also sets
``nagiosdrained`` = '1' from the HARD state until 2-12 h after the episode, and
the node runs no job meanwhile. Isolated false-positive WARNING / CRITICAL /
UNKNOWN states, rare maintenance drains and a few non-compute hosts (ids above
979, ``host_group`` 'login' / 'service') add the noise real readers meet. None
of these appear in the ground truth, which lists the injected episodes only.

Calibration
-----------
Value ranges were fitted by hand to the real sample in
``shared/data/m100-2209-rebuilt`` (15-minute means of nodes 10, 38, 104 and
355, 2022-09-01 to 09-28): for every column of ``ipmi_rebuild_node*.csv`` and
``ganglia_rebuild_node*.csv`` the 1st, 5th, 50th, 95th and 99th percentiles
over the four nodes pooled, and the median of idle versus busy windows (busy
= ``state_IDLE`` == 0 in ``jobtable_rebuild_node*.csv``). Figures used:

- ``ambient`` median 23.4 C (p5 18.2, p95 26.1); idle 23.0, busy 23.6.
- ``dimm*_temp`` median 31-34 (p5 26-29, p95 34-35, p99 36-38); DIMMs 12-15
  run ~2 C warmer.
- core temperatures (all ``p*_core*_temp`` of a node): median 39-49, p5
  32-41, p95 57-66, p99 61-69; spread of per-sensor means 0.5-1.7 C;
  ``p*_vdd_temp`` = core mean minus 5-11 C (median 33-35, p95 43-45).
- fans: ``fanX_0`` median 4,300-4,400 RPM, ``fanX_1`` ~4,700; p95 6,470-6,550
  and 6,890-6,900; p99 at most 6,600 and 6,970 (the ceilings used).
- ``fan_disk_power`` median 32 W (p5 20, p95 76).
- ``p*_power`` idle median 32-37 W, busy 52-53, p95 128-146;
  ``p*_io_power`` 51-62 W; ``p*_mem_power`` 18 W (p95 24, p99 31).
- ``gpu*_core_temp`` idle 36-41, busy 46-53, p99 63-76; ``gpu*_mem_temp``
  about 2 C below; ``pcie`` idle 38.7, busy 44.2 (p95 51.4).
- ``total_power`` idle 435 W, busy 752, p5 417, p99 1,206;
  ``ps0/ps1_input_power`` idle 257 / 288, busy 423 / 455 (ps0 share 0.47),
  their sum exceeds ``total_power`` by 110-138 W; input voltage 224-230 V
  (median 228); output current idle 16-19 A, busy 31-33; output voltage
  12.4 V at low load, 12.2 V at high load.
- ``gv100card*`` is identically 0 in the release (a presence sensor).
- ``boottime`` 1.657e9-1.664e9 s; ``mem_free`` idle 3.10e8 KB, busy 2.70e8,
  p1 1.3e8; ``mem_cached`` idle 2.65e6, busy 6.0e6, p99 3.6e7;
  ``swap_free`` 4.13e6-4.19e6 of ~4.19e6 KB; ``mem_buffers`` ~5,700.
- ``cpu_user`` idle 0.01 %, busy median 3.2, p95 41, p99 77; ``cpu_system``
  median 0.34, p95 6.4; ``cpu_wio`` and ``cpu_nice`` 0; ``cpu_aidle`` 84-99.9.
- ``load_one`` idle 0.07, busy median 5.0, p95 89, p99 136;
  ``proc_total`` idle 1,774, busy 2,121; ``proc_run`` p95 87.
- ``bytes_in`` median 7,740 B/s (p99 6.9e5), ``bytes_out`` 2.0e4,
  ``pkts_in`` 61, ``pkts_out`` 117; ``disk_free`` 1,135-1,137 GB;
  ``part_max_used`` ~41.6 %.
- ``Gpu*_power_usage`` idle 40 W, busy median 92-102, p99 235-280;
  ``Gpu*_gpu_utilization`` busy median 32-40, p95 92; ``Gpu*_fb_used`` idle
  8 MB, p99 15,390; ``Gpu*_total_energy_consumption`` 8e10-1.7e11 mJ.
- jobs: busy share 0.09-0.90 per node (drawn from 0.35-0.90 here); median
  busy or idle run 1-12.5 h (log-normal, median 3 h here).
- Nagios: the 16 check names of ``nagios_rebuild_node*.csv``; a node that is
  down shows ``alive::ping`` CRITICAL with the other checks UNKNOWN.

Sampling periods and value types follow the ExaData plugin documentation:
IPMI every 20 s (``ipmi_period_s``); Ganglia GPU metrics ~20 s
(``ganglia_period_s``), memory 40 s, system 1 min, processes 80 s, CPU and
load 90 s, disk 3 min, network and ``gexec`` 5 min (a slow family never
samples faster than ``ganglia_period_s``). Ganglia metrics documented as
"float" are float32, except the large counters (``boottime``, ``mem_free``,
``mem_cached``, ``mem_total``, ``Gpu*_total_energy_consumption``), which are
float64 so that they keep their precision; the others are int32.
"""

from __future__ import annotations

import math
import shutil
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ftl_tff.errors import ConfigError

__all__ = [
    "ANOMALY_KINDS",
    "GENERATOR_VERSION",
    "NAGIOS_CHECKS",
    "NON_COMPUTE_HOSTS",
    "SyntheticDataset",
    "generate_raw",
]

#: Version of the signal model; bump it when the generated values change.
GENERATOR_VERSION = "1.0.0"

#: Kinds of injected anomaly episodes, as written in the ground truth.
ANOMALY_KINDS: tuple[str, ...] = (
    "fan_failure",
    "memory_leak",
    "thermal_runaway",
    "node_hang",
    "psu_fault",
)

#: Nagios checks of a compute node (the columns of the real Nagios sample).
NAGIOS_CHECKS: tuple[str, ...] = (
    "alive::ping",
    "batchs::client::state",
    "batchs::client",
    "bmc::events",
    "filesys::eurofusion::mount",
    "filesys::local::avail",
    "filesys::local::mount",
    "memory::phys::total",
    "net::ib::status",
    "nvidia::configuration",
    "nvidia::memory::replace",
    "nvidia::memory::retirement",
    "ssh::daemon",
    "sys::rvitals",
    "sys::gpfs::status",
    "sys::sssd::events",
)

#: Non-compute hosts that appear in Nagios only: (node id, host_group).
NON_COMPUTE_HOSTS: tuple[tuple[str, str], ...] = (
    ("1001", "login"),
    ("1002", "login"),
    ("1005", "service"),
)

_N_COMPUTE = 980
_NODES_PER_RACK = 20
_STEP = 60  # latent-state grid (s): slow enough to be cheap, finer than every lag
_NAGIOS_PERIOD = 900
_NAGIOS_MAX_PHASE = 100  # a check runs within 100 s after its window opens
_COMPUTE_GROUP = "compute"
_NON_COMPUTE_CHECKS = (
    "alive::ping",
    "ssh::daemon",
    "filesys::local::avail",
    "filesys::local::mount",
    "memory::phys::total",
    "sys::gpfs::status",
)

_TIMESTAMP = pa.timestamp("ms", tz="UTC")
_NODE_TYPE = pa.dictionary(pa.int32(), pa.string())
_I32, _F32, _F64, _STR = pa.int32(), pa.float32(), pa.float64(), pa.string()

_IPMI_GPUS = (0, 1, 3, 4)  # ipmi names the four V100s 0,1,3,4; ganglia 0..3
_CORES = 24
_MISSING_CORE_PAIRS = 4
_COMPACT_CORES = (4, 5, 12, 13, 20, 21)
_FAN_NOMINAL = (4300.0, 4700.0)  # fanX_0, fanX_1 at rest (real medians)
_FAN_CEILING = (6600.0, 6970.0)  # real p99
_MEM_TOTAL_KB = 335_544_320.0  # 320 GiB: mem_free reaches 3.2e8 KB in the sample
_SWAP_TOTAL_KB = 4_194_240.0

_SAMPLE_DROP = 0.003  # share of sweeps lost per node and plugin
_METRIC_DROP = 0.001  # share of single readings lost on top
_OUTAGES_PER_DAY = {"ipmi_pub": 0.2, "ganglia_pub": 0.3}
_FALSE_POSITIVES_PER_DAY = 0.6
_MAINTENANCE_PER_DAY = 0.05

_KIND_WEIGHTS = {
    "fan_failure": 0.17,
    "memory_leak": 0.20,
    "thermal_runaway": 0.15,
    "node_hang": 0.30,
    "psu_fault": 0.18,
}
_DURATION_HOURS = {
    "fan_failure": (1.5, 6.0),
    "memory_leak": (3.0, 10.0),
    "thermal_runaway": (1.5, 3.0),
    "node_hang": (1.5, 8.0),
    "psu_fault": (1.5, 8.0),
}
# P(critical), P(drained), P(none): hangs are always seen, leaks often missed.
_REACTION_P = {
    "fan_failure": (0.5, 0.3, 0.2),
    "memory_leak": (0.3, 0.2, 0.5),
    "thermal_runaway": (0.5, 0.4, 0.1),
    "node_hang": (0.5, 0.5, 0.0),
    "psu_fault": (0.4, 0.3, 0.3),
}
_REACTIONS = ("critical", "drained", "none")
_REACTION_CHECKS = {
    "fan_failure": ("sys::rvitals", "bmc::events"),
    "memory_leak": ("batchs::client::state",),
    "thermal_runaway": ("sys::rvitals",),
    "node_hang": ("alive::ping", "ssh::daemon"),
    "psu_fault": ("bmc::events", "sys::rvitals"),
}

_GANGLIA_MIN_PERIOD = {  # ExaData documentation; "gpu" follows the base itself
    "gpu": 0,
    "memory": 40,
    "system": 60,
    "process": 80,
    "cpu": 90,
    "load": 90,
    "disk": 180,
    "network": 300,
    "core": 300,
}
_STRING_METRICS = {
    "gexec": ("core", "OFF"),
    "machine_type": ("system", "ppc64le"),
    "os_name": ("system", "Linux"),
    "os_release": ("system", "4.18.0-305.el8.ppc64le"),
}
_COMPACT_METRICS = frozenset(
    {
        "ambient",
        "total_power",
        "p0_power",
        "p1_power",
        "p0_vdd_temp",
        "fan0_0",
        "fan2_1",
        "dimm0_temp",
        "dimm9_temp",
        "gpu0_core_temp",
        "gpu3_core_temp",
        "ps0_input_power",
        "ps1_input_power",
        "cpu_user",
        "cpu_wio",
        "load_one",
        "mem_free",
        "swap_free",
        "bytes_in",
        "boottime",
        "Gpu0_gpu_utilization",
        "Gpu0_power_usage",
        "os_name",
        "machine_type",
    }
    | {f"p{s}_core{c}_temp" for s in (0, 1) for c in _COMPACT_CORES}
)

_WRITE_OPTIONS = {
    "compression": "zstd",
    "data_page_version": "2.0",
    "row_group_size": 250_000,
    # Delta-encoded timestamps are ~10x smaller and faster to write than the
    # plain encoding; readers see the same Arrow type.
    "column_encoding": {"timestamp": "DELTA_BINARY_PACKED"},
}


# --------------------------------------------------------------------------
# Public result
# --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)  # eq would compare DataFrames, which is ambiguous
class SyntheticDataset:
    """What :func:`generate_raw` wrote.

    Attributes:
        root: Folder holding the ``year_month=*`` tree, ``ground_truth.csv``
            and ``README.txt``.
        nodes: Compute node ids (strings of integers), sorted numerically.
        ground_truth: One row per injected anomaly episode, sorted by node and
            start: ``node`` (str), ``kind`` (one of :data:`ANOMALY_KINDS`),
            ``start`` and ``end`` (tz-aware UTC; telemetry is affected in
            ``[start, end)``) and ``nagios_reaction`` ('critical', 'drained'
            or 'none').
        metrics: Plugin name -> sorted names of the metrics written.
    """

    root: Path
    nodes: list[str]
    ground_truth: pd.DataFrame
    metrics: dict[str, list[str]]


# --------------------------------------------------------------------------
# Seeding, time frame, small numeric helpers
# --------------------------------------------------------------------------


def _rng(seed: int, *keys: int | str) -> np.random.Generator:
    """A generator for one purpose, independent of every other purpose.

    Strings are hashed with CRC-32 (stable across runs, unlike ``hash``).
    """
    entropy = [seed] + [k if isinstance(k, int) else zlib.crc32(k.encode()) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(entropy))


@dataclass(frozen=True)
class _Frame:
    """The time span of a run, in epoch seconds."""

    t0: int
    t1: int  # exclusive

    @property
    def days(self) -> float:
        return (self.t1 - self.t0) / 86_400

    @property
    def grid_start(self) -> int:
        # One step before t0 so that every sample time lies inside the grid.
        return (self.t0 // _STEP) * _STEP - _STEP

    @property
    def n_grid(self) -> int:
        return (self.t1 - self.grid_start) // _STEP + 3

    @property
    def window0(self) -> int:
        """Start of the first whole Nagios window."""
        return -(-self.t0 // _NAGIOS_PERIOD) * _NAGIOS_PERIOD

    @property
    def n_windows(self) -> int:
        return max(0, -(-(self.t1 - self.window0) // _NAGIOS_PERIOD))

    def window_at_or_after(self, t: int) -> int:
        return -(-(t - self.window0) // _NAGIOS_PERIOD)


def _first_order(x: np.ndarray, decay: float, gain: float, y_prev: float) -> np.ndarray:
    """``y[n] = decay * y[n-1] + gain * x[n]``, vectorised block by block.

    Inside a block the recursion has the closed form
    ``y[j] = decay**(j+1) * (y_prev + gain * sum_{i<=j} x[i] / decay**(i+1))``;
    blocks are short enough that ``decay**-L`` stays far from overflow. This
    keeps SciPy (seconds to import) out of the generator.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.empty_like(x)
    block = max(1, int(50.0 / -math.log(decay)))
    powers = decay ** np.arange(1, min(block, x.size) + 1, dtype=np.float64)
    for b in range(0, x.size, block):
        seg = x[b : b + block]
        pw = powers[: seg.size]
        y[b : b + seg.size] = pw * (y_prev + gain * np.cumsum(seg / pw))
        y_prev = y[b + seg.size - 1]
    return y


def _lag(x: np.ndarray, tau_s: float) -> np.ndarray:
    """First-order low-pass (thermal inertia) on the state grid, at rest at x[0]."""
    a = 1.0 - math.exp(-_STEP / tau_s)
    return _first_order(x, 1.0 - a, a, float(np.asarray(x)[0]))


def _ar1(rng: np.random.Generator, n: int, phi: float, sigma: float) -> np.ndarray:
    """Stationary AR(1) noise: slow fluctuations of load within a job."""
    innovations = rng.normal(0.0, sigma * math.sqrt(1.0 - phi * phi), n)
    return _first_order(innovations, phi, 1.0, rng.normal(0.0, sigma))


def _in_intervals(t: np.ndarray, intervals: Iterable[tuple[int, int]]) -> np.ndarray:
    mask = np.zeros(t.shape, dtype=bool)
    for start, end in intervals:
        mask |= (t >= start) & (t < end)
    return mask


# --------------------------------------------------------------------------
# Per-node draws: calibration, sensor sets, episodes
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Calibration:
    """Constants of one node (offsets and gains of its hardware)."""

    ambient_offset: float
    core_base: tuple[float, float]
    core_span: tuple[float, float]
    vdd_base: float
    vdd_span: float
    dimm_base: float
    gpu_base: tuple[float, ...]
    gpu_span: tuple[float, ...]
    cpu_idle_power: tuple[float, float]
    gpu_idle_power: tuple[float, ...]
    io_power: tuple[float, float]
    mem_power: tuple[float, float]
    fan_factor: float
    fan_disk_power: float
    other_power: float
    psu_share: float
    mem_base_used: float
    cache_idle: float
    mem_buffers: float
    swap_base_used: float
    net_in_idle: float
    net_out_idle: float
    proc_base: float
    disk_free: float
    part_used: float
    aidle_prior: float
    energy_prior_w: float
    uptime_days: float
    utilisation: float


def _draw_calibration(seed: int, node: int) -> _Calibration:
    r = _rng(seed, node, "calibration")
    return _Calibration(
        ambient_offset=r.normal(0.0, 0.4),
        core_base=(r.uniform(14.0, 21.0), r.uniform(14.0, 21.0)),
        core_span=(r.uniform(26.0, 34.0), r.uniform(26.0, 34.0)),
        vdd_base=r.uniform(7.0, 12.0),
        vdd_span=r.uniform(14.0, 20.0),
        dimm_base=r.uniform(6.0, 9.0),
        gpu_base=tuple(r.uniform(12.0, 19.0, 4)),
        gpu_span=tuple(r.uniform(28.0, 38.0, 4)),
        cpu_idle_power=(r.uniform(26.0, 38.0), r.uniform(26.0, 38.0)),
        gpu_idle_power=tuple(r.uniform(38.0, 45.0, 4)),
        io_power=(r.uniform(49.0, 54.0), r.uniform(49.0, 54.0)),
        mem_power=(r.uniform(17.5, 18.5), r.uniform(17.5, 18.5)),
        fan_factor=r.uniform(0.97, 1.03),
        fan_disk_power=r.uniform(28.0, 34.0),
        other_power=r.uniform(30.0, 60.0),
        psu_share=r.uniform(0.455, 0.485),
        mem_base_used=r.uniform(1.9e7, 2.4e7),
        cache_idle=r.uniform(1.5e6, 3.5e6),
        mem_buffers=r.uniform(5_000.0, 7_000.0),
        swap_base_used=r.uniform(0.0, 70_000.0),
        net_in_idle=r.uniform(5_500.0, 7_500.0),
        net_out_idle=r.uniform(14_000.0, 20_000.0),
        proc_base=r.uniform(1_650.0, 1_800.0),
        disk_free=r.uniform(1_134.5, 1_137.0),
        part_used=r.uniform(40.0, 43.0),
        aidle_prior=r.uniform(85.0, 99.5),
        energy_prior_w=r.uniform(55.0, 110.0),
        uptime_days=r.uniform(3.0, 45.0),
        utilisation=r.uniform(0.35, 0.90),
    )


def _core_sensor_sets(seed: int, node: int) -> tuple[frozenset[int], frozenset[int]]:
    """The 16 of 24 core sensors per socket a node exposes (4 whole pairs missing)."""
    r = _rng(seed, node, "core-sensors")
    sets = []
    for _socket in (0, 1):
        missing = r.choice(_CORES // 2, size=_MISSING_CORE_PAIRS, replace=False)
        absent = {2 * int(p) for p in missing} | {2 * int(p) + 1 for p in missing}
        sets.append(frozenset(set(range(_CORES)) - absent))
    return sets[0], sets[1]


@dataclass(frozen=True)
class _Episode:
    """One injected anomaly and the Nagios reaction it gets."""

    kind: str
    start: int
    end: int
    target: int  # fan 0..7, PSU or socket 0..1; unused otherwise
    magnitude: float
    reaction: str
    detect_window: int  # first non-OK Nagios window
    hard_window: int  # first HARD window
    clear_window: int  # first window back to OK
    drain_until: int  # epoch s; 0 when not drained


def _draw_episode(r: np.random.Generator, frame: _Frame) -> tuple[_Episode, int] | None:
    """One candidate episode and the end of the time it reserves, or None if none fits."""
    kinds = list(_KIND_WEIGHTS)
    kind = kinds[int(r.choice(len(kinds), p=list(_KIND_WEIGHTS.values())))]
    lo_h, hi_h = _DURATION_HOURS[kind]
    duration = int(r.uniform(lo_h, hi_h) * 60) * _STEP
    target = int(r.integers(0, 8 if kind == "fan_failure" else 2))
    magnitude = {
        "fan_failure": r.uniform(6.0, 12.0),
        "memory_leak": r.uniform(0.85, 1.0),
        "thermal_runaway": r.uniform(30.0, 50.0),
    }.get(kind, 1.0)
    reaction = _REACTIONS[int(r.choice(3, p=_REACTION_P[kind]))]
    delay = int(r.integers(1, 4))  # windows until the first failed check
    soft_checks = int(r.integers(1, 3))  # SOFT retries before HARD
    recovery = int(r.integers(0, 2))
    drain_hours = r.uniform(2.0, 12.0)
    # Start on the grid, late enough for a first Nagios window, early enough
    # that the whole episode and its reaction fit in the run.
    lo = -(-(frame.t0 + 1800) // _STEP) * _STEP
    hi = frame.t1 - duration - 3600
    if hi <= lo:
        return None
    start = lo + int(r.integers(0, (hi - lo) // _STEP + 1)) * _STEP
    end = start + duration
    detect = frame.window_at_or_after(start) + delay - 1
    hard = detect + soft_checks
    if frame.window0 + hard * _NAGIOS_PERIOD + _NAGIOS_MAX_PHASE >= end:
        reaction = "none"  # the fault was gone before Nagios confirmed it
    clear = max(frame.window_at_or_after(end) + recovery, hard + 1)
    drain_until = 0
    if reaction == "drained":
        drain_until = end + int(drain_hours * 3600)
    reserved_until = max(end, drain_until)
    episode = _Episode(
        kind, start, end, target, float(magnitude), reaction, detect, hard, clear, drain_until
    )
    return episode, reserved_until


def _draw_episodes(seed: int, node: int, frame: _Frame, rate: float) -> list[_Episode]:
    """Non-overlapping anomaly episodes of one node, about ``rate`` per day."""
    r = _rng(seed, node, "episodes")
    wanted = int(r.poisson(rate * frame.days))
    episodes: list[_Episode] = []
    reserved: list[tuple[int, int]] = []
    for _ in range(wanted):
        for _attempt in range(20):
            drawn = _draw_episode(r, frame)
            if drawn is None:
                continue
            episode, until = drawn
            # One hour of normal data between episodes keeps them separable.
            lo, hi = episode.start - 3600, until + 3600
            if all(hi <= a or lo >= b for a, b in reserved):
                episodes.append(episode)
                reserved.append((lo, hi))
                break
    return sorted(episodes, key=lambda e: e.start)


def _draw_maintenance(
    seed: int, node: int, frame: _Frame, episodes: Sequence[_Episode]
) -> list[tuple[int, int]]:
    """Rare operator drains with nothing wrong (not in the ground truth)."""
    r = _rng(seed, node, "maintenance")
    drains = []
    for _ in range(int(r.poisson(_MAINTENANCE_PER_DAY * frame.days))):
        start = frame.t0 + int(r.integers(0, max(1, frame.t1 - frame.t0)))
        end = start + int(r.uniform(2.0, 8.0) * 3600)
        busy = [(e.start - 3600, max(e.end, e.drain_until) + 3600) for e in episodes]
        if all(end <= a or start >= b for a, b in busy):
            drains.append((start, end))
    return drains


# --------------------------------------------------------------------------
# Latent state of a node (60 s grid)
# --------------------------------------------------------------------------


def _rack_ambient(seed: int, rack: int, grid_t: np.ndarray) -> np.ndarray:
    """Inlet temperature of a rack: room level, daily cycle, slow drift."""
    r = _rng(seed, "rack", rack, "ambient")
    base = r.uniform(21.5, 24.5)
    amplitude = r.uniform(0.3, 1.0)
    peak_hour = r.uniform(13.0, 17.0)
    hour = (grid_t % 86_400) / 3600.0
    daily = amplitude * np.cos(2 * np.pi * (hour - peak_hour) / 24.0)
    drift = _ar1(r, grid_t.size, 0.995, 0.5)
    return base + daily + drift


def _rack_voltage(seed: int, rack: int, grid_t: np.ndarray) -> np.ndarray:
    """Mains voltage seen by a rack's PSUs (227 V, daily swing)."""
    r = _rng(seed, "rack", rack, "voltage")
    hour = (grid_t % 86_400) / 3600.0
    return (
        r.uniform(226.0, 228.5)
        + 1.2 * np.sin(2 * np.pi * (hour - r.uniform(0, 24)) / 24.0)
        + _ar1(r, grid_t.size, 0.99, 0.4)
    )


def _simulate_jobs(seed: int, node: int, util: float, idle: np.ndarray) -> dict[str, np.ndarray]:
    """Busy/idle episodes and the load each job puts on CPUs, GPUs, memory, network."""
    r = _rng(seed, node, "jobs")
    n = idle.size
    busy = np.zeros(n)
    cpu = np.zeros(n)
    imbalance = np.zeros(n)
    gpu = np.zeros((4, n))
    copy = np.zeros((4, n))
    fb = np.zeros((4, n))
    mem = np.zeros(n)
    net = np.zeros(n)
    i, is_busy, first = 0, bool(r.random() < util), True
    while i < n:
        median = 180.0 if is_busy else 180.0 * (1.0 - util) / util
        length = int(np.clip(r.lognormal(math.log(median), 0.8 if is_busy else 1.0), 5, 2880))
        if first:  # the run starts in the middle of a segment
            length, first = int(r.integers(1, length + 1)), False
        seg = slice(i, min(n, i + length))
        if is_busy:
            gpu_job = r.random() < 0.7  # most M100 jobs are GPU jobs, light on the CPU
            cpu_level = r.uniform(0.02, 0.12) if gpu_job else r.uniform(0.2, 0.9)
            n_gpus = int(r.choice([1, 2, 4], p=[0.15, 0.15, 0.7])) if gpu_job else 0
            used = r.permutation(4)[:n_gpus]
            levels, copy_share = r.uniform(0.35, 0.99, 4), r.uniform(0.1, 0.8, 4)
            fb_mb = r.uniform(1_500.0, 15_300.0, 4)
            busy[seg] = 1.0
            cpu[seg] = cpu_level
            imbalance[seg] = r.uniform(-0.15, 0.15)
            mem[seg] = r.uniform(0.03, 0.35) if gpu_job else r.uniform(0.1, 0.6)
            net[seg] = r.uniform(0.05, 0.5) if r.random() < 0.05 else r.uniform(0.0, 0.02)
            for g in used:
                gpu[g, seg], copy[g, seg], fb[g, seg] = levels[g], copy_share[g], fb_mb[g]
        i += length
        is_busy = not is_busy
    # Load inside a job breathes (phases, I/O waits) rather than staying flat.
    cpu = np.clip(cpu * (1.0 + _ar1(r, n, 0.95, 0.08)), 0.0, 1.0)
    gpu = np.clip(gpu * (1.0 + _ar1(r, n, 0.9, 0.06)), 0.0, 1.0)
    net = net * np.exp(_ar1(r, n, 0.8, 0.5))
    running = ~idle  # drains and hangs: no job runs
    return {
        "busy": busy * running,
        "cpu": cpu * running,
        "imbalance": imbalance,
        "gpu": gpu * running,
        "copy": copy,
        "fb": fb * running,
        "mem": mem * running,
        "net": net * running,
    }


def _anomaly_targets(grid_t: np.ndarray, episodes: Sequence[_Episode]) -> dict[str, np.ndarray]:
    """Extra heat, fan demand, socket power and leaked memory, before any lag."""
    n = grid_t.size
    extra = np.zeros((2, n))
    extra_dimm = np.zeros(n)
    fan_boost = np.zeros(n)
    power = np.zeros((2, n))
    leak = np.zeros(n)
    for ep in episodes:
        sel = (grid_t >= ep.start) & (grid_t < ep.end)
        progress = (grid_t[sel] - ep.start) / (ep.end - ep.start)
        if ep.kind == "fan_failure":
            extra[:, sel] += ep.magnitude
            extra_dimm[sel] += ep.magnitude / 2
            fan_boost[sel] = 1.0
        elif ep.kind == "thermal_runaway":
            climb = ep.magnitude * progress**1.5
            extra[ep.target, sel] += climb
            power[ep.target, sel] += 0.6 * climb
            fan_boost[sel] = np.maximum(fan_boost[sel], np.minimum(1.0, 1.5 * progress))
        elif ep.kind == "memory_leak":
            leak[sel] = ep.magnitude * progress
    return {"extra": extra, "extra_dimm": extra_dimm, "fan_boost": fan_boost,
            "power": power, "leak": leak}


def _since_boot(
    grid_t: np.ndarray, values: np.ndarray, boots: Sequence[int], prior_sum: float,
    prior_seconds: float, average: bool,
) -> np.ndarray:
    """Integral (or mean) of ``values`` since the last boot (ganglia counters)."""
    out = np.empty_like(values)
    cuts = np.searchsorted(grid_t, boots[1:], side="left")
    bounds = [0, *cuts.tolist(), grid_t.size]
    for k in range(len(bounds) - 1):
        a, b = bounds[k], bounds[k + 1]
        if a >= b:
            continue
        total = np.cumsum(values[a:b]) * _STEP + (prior_sum if k == 0 else 0.0)
        if average:
            elapsed = grid_t[a:b] - grid_t[a] + _STEP + (prior_seconds if k == 0 else 0.0)
            out[a:b] = total / elapsed
        else:
            out[a:b] = total
    return out


def _simulate_state(node: _NodeModel, seed: int) -> dict[str, np.ndarray]:
    """Every latent channel of a node on its grid (float32 to bound memory)."""
    g, c = node.grid_t, node.calib
    idle = _in_intervals(g, node.idle_intervals)
    jobs = _simulate_jobs(seed, node.id, c.utilisation, idle)
    anomaly = _anomaly_targets(g, node.episodes)
    s: dict[str, np.ndarray] = {}

    busy_slow = _lag(jobs["busy"], 1800)
    s["ambient"] = _rack_ambient(seed, node.rack, g) + c.ambient_offset + 0.6 * busy_slow
    s["voltage"] = _rack_voltage(seed, node.rack, g)

    # CPUs: power follows utilisation sub-linearly (idle cores still clock).
    cpu_s = [np.clip(jobs["cpu"] * (1 + sign * jobs["imbalance"]), 0, 1) for sign in (1, -1)]
    extra = [_lag(anomaly["extra"][k], 300) for k in (0, 1)]
    for k in (0, 1):
        drive = cpu_s[k] ** 0.6
        s[f"cpu{k}"] = cpu_s[k]
        s[f"p{k}_power"] = c.cpu_idle_power[k] + 115 * drive + _lag(anomaly["power"][k], 120)
        s[f"heat{k}"] = _lag(drive, 150)
        s[f"extra{k}"] = extra[k]
        s[f"io{k}"] = c.io_power[k] + 5 * busy_slow + 3 * np.minimum(jobs["net"], 1)
        s[f"memp{k}"] = c.mem_power[k] + 10 * drive * (0.5 + jobs["mem"])
    cpu_mean = (cpu_s[0] + cpu_s[1]) / 2
    s["heat_dimm"] = _lag(0.5 * jobs["mem"] + 0.5 * cpu_mean**0.6, 900)
    s["extra_dimm"] = _lag(anomaly["extra_dimm"], 900)

    # GPUs: power and heat per card.
    gpu_heat = []
    for k in range(4):
        s[f"gpu{k}"] = jobs["gpu"][k]
        s[f"gpu_power{k}"] = c.gpu_idle_power[k] + 235 * jobs["gpu"][k] ** 1.3
        gpu_heat.append(_lag(jobs["gpu"][k] ** 0.8, 200))
        s[f"gpu_heat{k}"] = gpu_heat[-1]
        s[f"copy{k}"] = jobs["gpu"][k] * jobs["copy"][k]
        s[f"fb{k}"] = jobs["fb"][k]
    s["gpu_heat_mean"] = np.mean(gpu_heat, axis=0)

    # Fans chase the hottest part; a failing fan or runaway socket maxes them.
    hottest = np.maximum.reduce([s["heat0"], s["heat1"], *gpu_heat])
    demand = np.clip((hottest - 0.65) / 0.35, 0, 1)  # fans idle most of the time
    s["fan_drive"] = np.clip(_lag(np.maximum(demand, anomaly["fan_boost"]), 90), 0, 1)
    s["fan_power"] = c.fan_disk_power * (1 + 0.52 * s["fan_drive"]) ** 2.2

    total = s["fan_power"] + c.other_power
    for k in (0, 1):
        total = total + s[f"p{k}_power"] + s[f"io{k}"] + s[f"memp{k}"]
    for k in range(4):
        total = total + s[f"gpu_power{k}"]
    s["total_power"] = total
    s["psu_in_total"] = total * 1.04 + 110  # PSU losses: the real sum exceeds total by ~125 W

    _os_state(s, node, jobs, anomaly["leak"], cpu_mean, busy_slow)
    # float32 halves the memory of long runs; the large counters keep float64.
    return {
        name: np.asarray(v, dtype=np.float64 if name.startswith(("energy", "mem_")) else np.float32)
        for name, v in s.items()
    }


def _os_state(
    s: dict[str, np.ndarray], node: _NodeModel, jobs: dict[str, np.ndarray],
    leak_target: np.ndarray, cpu_mean: np.ndarray, busy_slow: np.ndarray,
) -> None:
    """Ganglia-side channels: memory, swap, load, idle-since-boot, GPU energy."""
    g, c, boots = node.grid_t, node.calib, node.boots
    leak = leak_target
    swap_used = np.clip((leak - 0.7) / 0.3, 0, 1) * 0.95
    s["leak"] = leak
    s["swap_used"] = swap_used
    s["wio"] = 30 * swap_used  # a swapping node waits on I/O
    s["cpu_user"] = 93 * cpu_mean + 0.01
    s["cpu_system"] = 0.05 + 5 * cpu_mean**0.8 + 3 * swap_used
    cpu_idle = np.clip(100 - s["cpu_user"] - s["cpu_system"] - s["wio"], 0, 100)
    s["cpu_idle"] = cpu_idle
    prior_s = float(g[0] - boots[0])
    s["cpu_aidle"] = _since_boot(g, cpu_idle, boots, c.aidle_prior * prior_s, prior_s, True)
    load = 128 * cpu_mean + 0.06 + 12 * swap_used
    s["load_one"] = _lag(load, 60)
    s["load_five"] = _lag(load, 300)
    s["load_fifteen"] = _lag(load, 900)
    s["busy"] = busy_slow
    s["net"] = jobs["net"]
    cached = (c.cache_idle + 4e6 * busy_slow + 2.5e7 * _lag(np.minimum(jobs["net"], 1), 3600))
    s["mem_cached"] = cached * (1 - 0.8 * leak)
    free = _MEM_TOTAL_KB - c.mem_base_used - cached - 2.9e8 * _lag(jobs["mem"], 120)
    s["mem_free"] = np.maximum(free * (1 - 0.985 * leak), 2e5)
    for k in range(4):
        prior = c.energy_prior_w * prior_s * 1000.0  # mJ since the driver loaded
        s[f"energy{k}"] = _since_boot(g, s[f"gpu_power{k}"] * 1000.0, boots, prior, 0.0, False)


# --------------------------------------------------------------------------
# The node model
# --------------------------------------------------------------------------


class _NodeModel:
    """Everything random about one compute node, drawn once and sampled per metric."""

    def __init__(self, seed: int, node: int, frame: _Frame, anomaly_rate: float) -> None:
        self.id = node
        self.name = str(node)
        self.rack = node // _NODES_PER_RACK
        self.seed = seed
        self.frame = frame
        self.calib = _draw_calibration(seed, node)
        self.core_sets = _core_sensor_sets(seed, node)
        self.episodes = _draw_episodes(seed, node, frame, anomaly_rate)
        self.maintenance = _draw_maintenance(seed, node, frame, self.episodes)
        self.hangs = [(e.start, e.end) for e in self.episodes if e.kind == "node_hang"]
        w0 = frame.window0
        drains = [
            (w0 + e.hard_window * _NAGIOS_PERIOD, e.drain_until)
            for e in self.episodes
            if e.reaction == "drained"
        ]
        self.idle_intervals = self.hangs + drains + self.maintenance
        # A hung node is power-cycled at the end of the hang.
        first_boot = frame.t0 - int(self.calib.uptime_days * 86_400)
        self.boots = [first_boot] + [end for _, end in self.hangs]
        self.grid_t = frame.grid_start + _STEP * np.arange(frame.n_grid, dtype=np.float64)
        self.state = _simulate_state(self, seed)
        self._times: dict[tuple[str, int], np.ndarray] = {}

    def at(self, channel: str, t: np.ndarray) -> np.ndarray:
        """A latent channel interpolated at sample times ``t`` (epoch s)."""
        return np.interp(t, self.grid_t, self.state[channel])

    def during(self, t: np.ndarray, kind: str, target: int | None = None) -> np.ndarray:
        """Mask of the sample times inside an episode of ``kind`` (and ``target``)."""
        return _in_intervals(
            t,
            ((e.start, e.end) for e in self.episodes
             if e.kind == kind and (target is None or e.target == target)),
        )

    def boottime(self, t: np.ndarray) -> np.ndarray:
        """Last boot (epoch s) as seen at each sample time."""
        boots = np.asarray(self.boots, dtype=np.float64)
        return boots[np.searchsorted(boots, t, side="right") - 1]

    def has(self, socket: int, core: int) -> bool:
        """Whether the node exposes the temperature sensor of this core."""
        return core in self.core_sets[socket]

    def times(self, plugin: str, period: int) -> np.ndarray:
        """Sample times of one plugin sweep at ``period`` s, shared by its metrics."""
        key = (plugin, period)
        if key not in self._times:
            self._times[key] = self._draw_times(plugin, period)
        return self._times[key]

    def _draw_times(self, plugin: str, period: int) -> np.ndarray:
        f = self.frame
        r = _rng(self.seed, self.id, "times", plugin, period)
        t = np.arange(f.t0 + int(r.integers(0, period)), f.t1, period, dtype=np.int64)
        if period >= 5:  # a second of jitter, never enough to reorder samples
            t = t + r.integers(-1, 2, t.size) * (r.random(t.size) < 0.25)
        keep = (r.random(t.size) >= _SAMPLE_DROP) & (t >= f.t0) & (t < f.t1)
        outages = []
        for _ in range(int(r.poisson(_OUTAGES_PER_DAY[plugin] * f.days))):
            begin = f.t0 + int(r.integers(0, max(1, f.t1 - f.t0)))
            outages.append((begin, begin + int(r.integers(60, 1200))))
        keep &= ~_in_intervals(t, outages + self.hangs)
        return t[keep]


# --------------------------------------------------------------------------
# Metric catalogue: one signal function per metric
# --------------------------------------------------------------------------

_Signal = Callable[[_NodeModel, np.ndarray, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class _MetricSpec:
    plugin: str
    name: str
    value_type: pa.DataType
    period_s: int
    signal: _Signal
    core: tuple[int, int] | None = None  # (socket, core) of a per-node sensor


def _noise(r: np.random.Generator, t: np.ndarray, sd: float) -> np.ndarray:
    return r.normal(0.0, sd, t.size)


def _core_temp(socket: int) -> _Signal:
    def signal(node: _NodeModel, t: np.ndarray, r: np.random.Generator) -> np.ndarray:
        c = node.calib
        offset, gain = r.normal(0.0, 1.0), r.normal(1.0, 0.05)
        x = (node.at("ambient", t) + c.core_base[socket] + offset
             + c.core_span[socket] * gain * node.at(f"heat{socket}", t)
             + node.at(f"extra{socket}", t))
        return np.minimum(x + _noise(r, t, 0.5), 105.0)
    return signal


def _vdd_temp(socket: int) -> _Signal:
    def signal(node: _NodeModel, t: np.ndarray, r: np.random.Generator) -> np.ndarray:
        c = node.calib
        x = (node.at("ambient", t) + c.vdd_base + r.normal(0.0, 0.7)
             + c.vdd_span * node.at(f"heat{socket}", t) + 0.6 * node.at(f"extra{socket}", t))
        return x + _noise(r, t, 0.4)
    return signal


def _dimm_temp(index: int) -> _Signal:
    warm = 1.5 if index >= 12 else 0.0  # DIMMs 12-15 sit downstream in the airflow

    def signal(node: _NodeModel, t: np.ndarray, r: np.random.Generator) -> np.ndarray:
        x = (node.at("ambient", t) + node.calib.dimm_base + warm + r.normal(0.0, 0.8)
             + 4.0 * node.at("heat_dimm", t) + node.at("extra_dimm", t))
        return x + _noise(r, t, 0.35)
    return signal


def _gpu_temp(gpu: int, memory: bool) -> _Signal:
    def signal(node: _NodeModel, t: np.ndarray, r: np.random.Generator) -> np.ndarray:
        c = node.calib
        shift = r.uniform(-3.0, 0.0) if memory else r.normal(0.0, 0.6)
        x = (node.at("ambient", t) + c.gpu_base[gpu] + shift
             + c.gpu_span[gpu] * node.at(f"gpu_heat{gpu}", t))
        return x + _noise(r, t, 0.4)
    return signal


def _fan(index: int) -> _Signal:
    side = index % 2

    def signal(node: _NodeModel, t: np.ndarray, r: np.random.Generator) -> np.ndarray:
        nominal = _FAN_NOMINAL[side] * node.calib.fan_factor * r.uniform(0.99, 1.01)
        rpm = nominal * (1 + 0.52 * node.at("fan_drive", t)) + _noise(r, t, 15.0)
        rpm = np.minimum(rpm, _FAN_CEILING[side])
        dead = node.during(t, "fan_failure", index)
        return np.where(dead, r.integers(0, 50, t.size), rpm)
    return signal


def _channel(name: str, sd: float, scale: float = 1.0, floor: float | None = 0.0) -> _Signal:
    """A latent channel read through a sensor with its own gain and noise."""
    def signal(node: _NodeModel, t: np.ndarray, r: np.random.Generator) -> np.ndarray:
        x = node.at(name, t) * scale * r.normal(1.0, 0.01) + _noise(r, t, sd)
        return x if floor is None else np.maximum(x, floor)
    return signal


def _constant(value: float, sd: float = 0.0) -> _Signal:
    def signal(node: _NodeModel, t: np.ndarray, r: np.random.Generator) -> np.ndarray:
        return np.full(t.size, value) + (_noise(r, t, sd) if sd else 0.0)
    return signal


def _psu(field: str, psu: int) -> _Signal:
    """PSU sensors; a faulty PSU reads 0 and its twin carries the whole load."""
    def signal(node: _NodeModel, t: np.ndarray, r: np.random.Generator) -> np.ndarray:
        share = node.calib.psu_share if psu == 0 else 1.0 - node.calib.psu_share
        total_in = node.at("psu_in_total", t)
        dead = node.during(t, "psu_fault", psu)
        alone = node.during(t, "psu_fault", 1 - psu)
        power = total_in * np.where(alone, 1.0, share) + _noise(r, t, 3.0)
        if field == "input_power":
            x = power
        elif field == "input_voltag":
            x = node.at("voltage", t) + r.normal(0.0, 0.5) + _noise(r, t, 0.4)
        elif field == "output_curre":
            x = power * 0.78 / 12.3 + _noise(r, t, 0.3)
        else:  # output_volta: the rail droops one step under load
            current = power * 0.78 / 12.3
            x = np.where(current > 24.0 + _noise(r, t, 2.0), 12.2, 12.4)
        return np.where(dead, 0.0, x)
    return signal


def _pcie(node: _NodeModel, t: np.ndarray, r: np.random.Generator) -> np.ndarray:
    return (node.at("ambient", t) + r.uniform(13.5, 16.5) + 9.0 * node.at("gpu_heat_mean", t)
            + 2.0 * node.at("heat_dimm", t) + _noise(r, t, 0.25))


def _ipmi_specs(period: int) -> list[_MetricSpec]:
    def spec(name: str, value_type: pa.DataType, signal: _Signal,
             core: tuple[int, int] | None = None) -> _MetricSpec:
        return _MetricSpec("ipmi_pub", name, value_type, period, signal, core)

    specs = [
        spec("ambient", _F32, _channel("ambient", 0.12, floor=None)),
        spec("pcie", _F32, _pcie),
        spec("total_power", _I32, _channel("total_power", 4.0)),
        spec("fan_disk_power", _I32, _channel("fan_power", 0.8)),
    ]
    specs += [spec(f"fan{i // 2}_{i % 2}", _I32, _fan(i)) for i in range(8)]
    specs += [spec(f"dimm{i}_temp", _I32, _dimm_temp(i)) for i in range(16)]
    for g, name in enumerate(_IPMI_GPUS):
        specs.append(spec(f"gpu{name}_core_temp", _I32, _gpu_temp(g, memory=False)))
        specs.append(spec(f"gpu{name}_mem_temp", _I32, _gpu_temp(g, memory=True)))
        specs.append(spec(f"gv100card{name}", _I32, _constant(0.0)))
    for k in (0, 1):
        specs.append(spec(f"p{k}_power", _I32, _channel(f"p{k}_power", 1.5)))
        specs.append(spec(f"p{k}_io_power", _I32, _channel(f"io{k}", 0.7)))
        specs.append(spec(f"p{k}_mem_power", _I32, _channel(f"memp{k}", 0.4)))
        specs.append(spec(f"p{k}_vdd_temp", _I32, _vdd_temp(k)))
        specs += [spec(f"p{k}_core{c}_temp", _I32, _core_temp(k), core=(k, c)) for c in range(_CORES)]
    for p in (0, 1):
        specs.append(spec(f"ps{p}_input_power", _I32, _psu("input_power", p)))
        specs.append(spec(f"ps{p}_input_voltag", _I32, _psu("input_voltag", p)))
        specs.append(spec(f"ps{p}_output_curre", _I32, _psu("output_curre", p)))
        specs.append(spec(f"ps{p}_output_volta", _F32, _psu("output_volta", p)))
    return specs


def _cpu_idle(node: _NodeModel, t: np.ndarray, r: np.random.Generator) -> np.ndarray:
    return np.clip(node.at("cpu_idle", t) + _noise(r, t, 0.03), 0.0, 100.0)


def _proc_run(node: _NodeModel, t: np.ndarray, r: np.random.Generator) -> np.ndarray:
    return node.at("load_one", t) * r.uniform(0.85, 1.0) + r.poisson(0.3, t.size)


def _proc_total(node: _NodeModel, t: np.ndarray, r: np.random.Generator) -> np.ndarray:
    return node.calib.proc_base + 420.0 * node.at("busy", t) + _noise(r, t, 15.0)


def _mem_shared(node: _NodeModel, t: np.ndarray, r: np.random.Generator) -> np.ndarray:
    return 25_000.0 + 400_000.0 * node.at("busy", t) + _noise(r, t, 2_000.0)


def _swap_free(node: _NodeModel, t: np.ndarray, r: np.random.Generator) -> np.ndarray:
    used = node.calib.swap_base_used + _SWAP_TOTAL_KB * node.at("swap_used", t)
    return np.clip(_SWAP_TOTAL_KB - used + _noise(r, t, 200.0), 0.0, _SWAP_TOTAL_KB)


def _network(direction: str, packets: bool) -> _Signal:
    def signal(node: _NodeModel, t: np.ndarray, r: np.random.Generator) -> np.ndarray:
        c = node.calib
        idle = c.net_in_idle if direction == "in" else c.net_out_idle
        burst = 8e5 if direction == "in" else 1.2e6
        rate = (idle * np.exp(_noise(r, t, 0.12)) + 1_500.0 * node.at("busy", t)
                + burst * node.at("net", t) * np.exp(_noise(r, t, 0.4)))
        if packets:
            rate = rate / (r.uniform(110.0, 130.0) if direction == "in" else r.uniform(150.0, 180.0))
        return rate
    return signal


def _boottime(node: _NodeModel, t: np.ndarray, r: np.random.Generator) -> np.ndarray:
    return node.boottime(t)


def _gpu_metric(kind: str, gpu: int) -> _Signal:
    def signal(node: _NodeModel, t: np.ndarray, r: np.random.Generator) -> np.ndarray:
        util = node.at(f"gpu{gpu}", t)
        if kind == "gpu_utilization":
            return np.where(util > 0.01, np.clip(100 * util + _noise(r, t, 2.0), 0, 100), 0.0)
        if kind == "mem_copy_utilization":
            copy = node.at(f"copy{gpu}", t)
            return np.where(copy > 0.01, np.clip(100 * copy + _noise(r, t, 2.0), 0, 100), 0.0)
        if kind == "power_usage":
            return node.at(f"gpu_power{gpu}", t) + _noise(r, t, 0.8)
        if kind == "fb_used":
            return 8.0 + node.at(f"fb{gpu}", t)
        return node.at(f"energy{gpu}", t)  # total_energy_consumption (mJ)
    return signal


def _string(value: str) -> _Signal:
    def signal(node: _NodeModel, t: np.ndarray, r: np.random.Generator) -> np.ndarray:
        return np.full(t.size, value, dtype=object)
    return signal


def _ganglia_specs(base: int) -> list[_MetricSpec]:
    def spec(name: str, family: str, value_type: pa.DataType, signal: _Signal) -> _MetricSpec:
        period = base if family == "gpu" else max(base, _GANGLIA_MIN_PERIOD[family])
        return _MetricSpec("ganglia_pub", name, value_type, period, signal)

    specs = [
        spec("cpu_user", "cpu", _F32, _channel("cpu_user", 0.01)),
        spec("cpu_system", "cpu", _F32, _channel("cpu_system", 0.05)),
        spec("cpu_wio", "cpu", _F32, _channel("wio", 0.0)),
        spec("cpu_idle", "cpu", _F32, _cpu_idle),
        spec("cpu_nice", "cpu", _F32, _constant(0.0)),
        spec("cpu_aidle", "cpu", _F32, _channel("cpu_aidle", 0.0)),
        spec("cpu_num", "system", _I32, _constant(128.0)),
        spec("load_one", "load", _F32, _channel("load_one", 0.02)),
        spec("load_five", "load", _F32, _channel("load_five", 0.01)),
        spec("load_fifteen", "load", _F32, _channel("load_fifteen", 0.005)),
        spec("proc_run", "process", _I32, _proc_run),
        spec("proc_total", "process", _I32, _proc_total),
        spec("mem_free", "memory", _F64, _channel("mem_free", 2e5)),
        spec("mem_cached", "memory", _F64, _channel("mem_cached", 2e4)),
        spec("mem_buffers", "memory", _I32, _mem_buffers),
        spec("mem_shared", "memory", _I32, _mem_shared),
        spec("mem_total", "system", _F64, _constant(_MEM_TOTAL_KB)),
        spec("swap_free", "memory", _I32, _swap_free),
        spec("swap_total", "system", _I32, _constant(_SWAP_TOTAL_KB)),
        spec("bytes_in", "network", _F32, _network("in", packets=False)),
        spec("bytes_out", "network", _F32, _network("out", packets=False)),
        spec("pkts_in", "network", _F32, _network("in", packets=True)),
        spec("pkts_out", "network", _F32, _network("out", packets=True)),
        spec("disk_free", "disk", _F32, _disk_free),
        spec("part_max_used", "disk", _F32, _part_max_used),
        spec("boottime", "system", _F64, _boottime),
    ]
    for g in range(4):
        specs += [
            spec(f"Gpu{g}_gpu_temp", "gpu", _I32, _gpu_temp(g, memory=False)),
            spec(f"Gpu{g}_memory_temp", "gpu", _I32, _gpu_temp(g, memory=True)),
            spec(f"Gpu{g}_power_usage", "gpu", _F32, _gpu_metric("power_usage", g)),
            spec(f"Gpu{g}_gpu_utilization", "gpu", _I32, _gpu_metric("gpu_utilization", g)),
            spec(f"Gpu{g}_mem_copy_utilization", "gpu", _I32,
                 _gpu_metric("mem_copy_utilization", g)),
            spec(f"Gpu{g}_fb_used", "gpu", _I32, _gpu_metric("fb_used", g)),
            spec(f"Gpu{g}_total_energy_consumption", "gpu", _F64,
                 _gpu_metric("total_energy_consumption", g)),
        ]
    specs += [spec(name, family, _STR, _string(value))
              for name, (family, value) in _STRING_METRICS.items()]
    return specs


def _mem_buffers(node: _NodeModel, t: np.ndarray, r: np.random.Generator) -> np.ndarray:
    return node.calib.mem_buffers + r.integers(0, 3, t.size)


def _disk_free(node: _NodeModel, t: np.ndarray, r: np.random.Generator) -> np.ndarray:
    return node.calib.disk_free - 1.5 * node.at("busy", t) + _noise(r, t, 0.01)


def _part_max_used(node: _NodeModel, t: np.ndarray, r: np.random.Generator) -> np.ndarray:
    return node.calib.part_used + 0.1 * node.at("busy", t) + _noise(r, t, 0.002)


def _metric_specs(metric_set: str, ipmi_period: int, ganglia_period: int) -> list[_MetricSpec]:
    specs = _ipmi_specs(ipmi_period) + _ganglia_specs(ganglia_period)
    if metric_set == "compact":
        specs = [s for s in specs if s.name in _COMPACT_METRICS]
    return specs


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


class _PartitionWriter:
    """Writes one (plugin, metric) into its month folders, ``k`` files each."""

    def __init__(self, root: Path, frame: _Frame, files_per_metric: int) -> None:
        self.root = root
        self.files_per_metric = files_per_metric
        first = pd.Timestamp(frame.t0, unit="s").to_period("M")
        last = pd.Timestamp(frame.t1 - 1, unit="s").to_period("M")
        months = pd.period_range(first, last, freq="M")
        self.labels = [m.strftime("%y-%m") for m in months]
        self.edges = np.array(
            [int(m.start_time.timestamp()) for m in months[1:]], dtype=np.int64
        )

    def write(
        self, plugin: str, metric: str, ts: np.ndarray,
        make_table: Callable[[np.ndarray | slice], pa.Table], dictionary_columns: list[str],
    ) -> bool:
        """Write rows (epoch s ``ts``) built by ``make_table``; False if there are none."""
        month = np.searchsorted(self.edges, ts, side="right")
        wrote = False
        for m, label in enumerate(self.labels):
            rows = slice(None) if len(self.labels) == 1 else np.flatnonzero(month == m)
            n = ts.size if isinstance(rows, slice) else rows.size
            if n == 0:
                continue
            table = make_table(rows)
            folder = self.root / f"year_month={label}" / f"plugin={plugin}" / f"metric={metric}"
            folder.mkdir(parents=True, exist_ok=True)
            bounds = np.linspace(0, table.num_rows, self.files_per_metric + 1).round().astype(int)
            for i in range(self.files_per_metric):
                part = table.slice(bounds[i], bounds[i + 1] - bounds[i])
                pq.write_table(part, folder / f"a_{i}.parquet",
                               use_dictionary=dictionary_columns, **_WRITE_OPTIONS)
            wrote = True
        return wrote


def _node_column(codes: np.ndarray, dictionary: pa.Array) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int32()), dictionary)


def _as_values(values: np.ndarray, value_type: pa.DataType) -> np.ndarray:
    if value_type == _I32:
        return np.rint(np.clip(values, -(2**31), 2**31 - 1)).astype(np.int32)
    if value_type == _F32:
        return values.astype(np.float32)
    if value_type == _F64:
        return values.astype(np.float64)
    return values


def _write_metric(
    spec: _MetricSpec, models: Sequence[_NodeModel], writer: _PartitionWriter,
    dictionary: pa.Array, seed: int,
) -> bool:
    """Sample one metric on every node that has it and write it, node after node."""
    times, values, codes = [], [], []
    for code, node in enumerate(models):
        if spec.core is not None and not node.has(*spec.core):
            continue
        r = _rng(seed, node.id, "metric", spec.name)
        t = node.times(spec.plugin, spec.period_s)
        t = t[r.random(t.size) >= _METRIC_DROP]
        times.append(t)
        values.append(_as_values(spec.signal(node, t, r), spec.value_type))
        codes.append(np.full(t.size, code, dtype=np.int32))
    if not times:
        return False
    ts, vals, node_codes = np.concatenate(times), np.concatenate(values), np.concatenate(codes)

    def make_table(rows: np.ndarray | slice) -> pa.Table:
        return pa.table({
            "timestamp": pa.array(ts[rows] * 1000, type=_TIMESTAMP),
            "value": pa.array(vals[rows], type=spec.value_type),
            "node": _node_column(node_codes[rows], dictionary),
        })

    dictionary_columns = ["node"] if spec.value_type in (_F32, _F64) else ["node", "value"]
    return writer.write(spec.plugin, spec.name, ts, make_table, dictionary_columns)


def _nagios_host(
    seed: int, node: int, host_group: str, checks: Sequence[str], frame: _Frame,
    episodes: Sequence[_Episode], maintenance: Sequence[tuple[int, int]],
) -> dict[str, np.ndarray]:
    """Nagios rows of one host: every check once per 15-minute window."""
    r = _rng(seed, node, "nagios")
    n_checks, n_windows = len(checks), frame.n_windows
    value = np.zeros((n_checks, n_windows), dtype=np.int32)
    soft = np.zeros((n_checks, n_windows), dtype=bool)
    drained = np.zeros(n_windows, dtype=bool)
    index = {name: i for i, name in enumerate(checks)}

    # Isolated false positives first, so that real reactions overwrite them.
    candidates = [i for i, name in enumerate(checks) if name != "alive::ping"]
    for _ in range(int(r.poisson(_FALSE_POSITIVES_PER_DAY * frame.days))):
        check = candidates[int(r.integers(len(candidates)))]
        w = int(r.integers(0, max(1, n_windows)))
        length = 2 if r.random() < 0.3 else 1
        value[check, w : w + length] = int(r.choice([1, 2, 3], p=[0.5, 0.3, 0.2]))
        soft[check, w] = r.random() < 0.8  # usually cleared before the retry confirms it

    for ep in episodes:
        if ep.reaction == "none":
            continue
        primary = [index[name] for name in _REACTION_CHECKS[ep.kind]]
        affected = list(range(n_checks)) if ep.kind == "node_hang" else primary
        lo, hi = ep.detect_window, min(n_windows, ep.clear_window)
        if ep.kind == "node_hang":  # checks that need the host answer UNKNOWN
            value[:, lo:hi] = 3
        value[primary, lo:hi] = 2
        soft[affected, lo:hi] = False
        soft[affected, lo : min(hi, ep.hard_window)] = True
        if ep.reaction == "drained":
            drained[ep.hard_window : min(n_windows, frame.window_at_or_after(ep.drain_until))] = True
    for start, end in maintenance:
        drained[max(0, frame.window_at_or_after(start)) : frame.window_at_or_after(end)] = True

    phase = r.integers(0, _NAGIOS_MAX_PHASE - 10, n_checks)[:, None]
    windows = frame.window0 + _NAGIOS_PERIOD * np.arange(n_windows, dtype=np.int64)[None, :]
    ts = windows + phase + r.integers(0, 10, (n_checks, n_windows))
    keep = (ts >= frame.t0) & (ts < frame.t1)
    check_idx = np.broadcast_to(np.arange(n_checks)[:, None], ts.shape)
    return {
        "ts": ts[keep],
        "value": value[keep],
        "check": check_idx[keep],
        "soft": soft[keep],
        "drained": np.broadcast_to(drained[None, :], ts.shape)[keep],
        "checks": np.asarray(checks, dtype=object),
        "host_group": host_group,
    }


def _write_nagios(
    models: Sequence[_NodeModel], frame: _Frame, writer: _PartitionWriter, seed: int
) -> bool:
    """All Nagios rows (compute and non-compute hosts) in time order."""
    hosts = [(m.id, m.name, _COMPUTE_GROUP, NAGIOS_CHECKS, m.episodes, m.maintenance)
             for m in models]
    hosts += [(int(h), h, group, _NON_COMPUTE_CHECKS, (), ()) for h, group in NON_COMPUTE_HOSTS]
    names = pa.array([h[1] for h in hosts], type=pa.string())
    parts = []
    for code, (node, _name, group, checks, episodes, maintenance) in enumerate(hosts):
        rows = _nagios_host(seed, node, group, checks, frame, episodes, maintenance)
        rows["code"] = np.full(rows["ts"].size, code, dtype=np.int32)
        rows["description"] = rows["checks"][rows["check"]]
        rows["group"] = np.full(rows["ts"].size, group, dtype=object)
        parts.append(rows)
    order = np.argsort(np.concatenate([p["ts"] for p in parts]), kind="stable")

    def column(key: str) -> np.ndarray:
        return np.concatenate([p[key] for p in parts])[order]

    ts, value, code = column("ts"), column("value"), column("code")
    description, group = column("description"), column("group")
    drained = np.where(column("drained"), "1", "0").astype(object)
    state_type = np.where(column("soft"), "0", "1").astype(object)

    def make_table(rows: np.ndarray | slice) -> pa.Table:
        return pa.table({
            "timestamp": pa.array(ts[rows] * 1000, type=_TIMESTAMP),
            "value": pa.array(value[rows], type=_I32),
            "description": pa.array(description[rows], type=_STR),
            "host_group": pa.array(group[rows], type=_STR),
            "nagiosdrained": pa.array(drained[rows], type=_STR),
            "node": _node_column(code[rows], names),
            "state_type": pa.array(state_type[rows], type=_STR),
        })

    dictionary_columns = ["value", "description", "host_group", "nagiosdrained", "node",
                          "state_type"]
    return writer.write("nagios_pub", "state", ts, make_table, dictionary_columns)


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------


def _check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        raise ConfigError(f"{name} must be {bound}, got {value}")
    return int(value)


def _make_frame(start: str | pd.Timestamp, days: float) -> _Frame:
    try:
        ts = pd.Timestamp(start)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"start must be a date or timestamp, got {start!r}: {exc}") from None
    if ts is pd.NaT:
        raise ConfigError(f"start must be a date or timestamp, got {start!r}")
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    try:
        span = float(days)
    except (TypeError, ValueError):
        raise ConfigError(f"days must be a number, got {days!r}") from None
    if not math.isfinite(span) or span <= 0:
        raise ConfigError(f"days must be > 0, got {days!r}")
    seconds = round(span * 86_400)
    if seconds < _STEP:
        raise ConfigError(f"days must cover at least one minute, got {days!r}")
    t0 = int(ts.floor("s").timestamp())
    return _Frame(t0, t0 + seconds)


def _choose_nodes(seed: int, n_nodes: int, node_ids: Sequence[int] | None) -> list[int]:
    if node_ids is not None:
        ids = []
        for node in node_ids:
            if isinstance(node, str) and node.strip().isdigit():
                node = int(node)  # ids as written in the files ('381') are fine too
            ids.append(_check_int("each of node_ids", node, 0, _N_COMPUTE - 1))
        if not ids:
            raise ConfigError("node_ids must not be empty")
        if len(set(ids)) != len(ids):
            raise ConfigError(f"node_ids must be distinct, got {list(node_ids)!r}")
        return sorted(ids)
    n = _check_int("n_nodes", n_nodes, 1, _N_COMPUTE)
    # A fixed permutation per seed: the first k ids are the same for any n >= k.
    return sorted(int(i) for i in _rng(seed, "node-ids").permutation(_N_COMPUTE)[:n])


def _prepare_root(out_dir: str | Path, overwrite: bool) -> Path:
    root = Path(out_dir)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"out_dir {root} exists and is not a folder")
    leftovers = sorted(p.name for p in root.iterdir()) if root.exists() else []
    if leftovers and not overwrite:
        raise ConfigError(
            f"out_dir {root} is not empty ({', '.join(leftovers[:3])}...); "
            "pass overwrite=True to replace a generated data set"
        )
    if overwrite:  # remove only what a previous run wrote
        for path in root.glob("year_month=*"):
            shutil.rmtree(path)
        for name in ("ground_truth.csv", "README.txt"):
            (root / name).unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    return root


def _ground_truth(models: Sequence[_NodeModel]) -> pd.DataFrame:
    # models are sorted by id and each node's episodes by start
    rows = [(m.name, e.kind, e.start, e.end, e.reaction) for m in models for e in m.episodes]
    frame = pd.DataFrame(rows, columns=["node", "kind", "start", "end", "nagios_reaction"],
                         dtype=object)
    for col in ("start", "end"):
        frame[col] = pd.to_datetime(frame[col].astype("int64"), unit="s", utc=True)
    return frame


def _write_readme(root: Path, seed: int, nodes: Sequence[str], frame: _Frame,
                  metric_set: str, ipmi_period_s: int, ganglia_period_s: int,
                  anomaly_rate: float, files_per_metric: int, n_episodes: int) -> None:
    start = pd.Timestamp(frame.t0, unit="s", tz="UTC").isoformat()
    lines = [
        "Synthetic Marconi100 telemetry (ftl_tff.data.synthetic), raw ExaData layout.",
        "NOT real data: generated to test and demonstrate ftl-tff.",
        f"generator version: {GENERATOR_VERSION}",
        f"seed: {seed}",
        f"start: {start}",
        f"days: {frame.days:g}",
        f"nodes ({len(nodes)}): {' '.join(nodes)}",
        f"metric set: {metric_set}",
        f"ipmi period: {ipmi_period_s} s; ganglia base period: {ganglia_period_s} s",
        f"anomaly rate: {anomaly_rate:g} per node-day; episodes: {n_episodes} (ground_truth.csv)",
        f"files per metric: {files_per_metric}",
    ]
    (root / "README.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def generate_raw(
    out_dir: str | Path,
    n_nodes: int = 8,
    days: float = 2.0,
    seed: int = 0,
    start: str | pd.Timestamp = "2022-09-01",
    *,
    metric_set: str = "full",
    ipmi_period_s: int = 20,
    ganglia_period_s: int = 20,
    anomaly_rate: float = 0.5,
    files_per_metric: int = 1,
    node_ids: Sequence[int] | None = None,
    progress: bool = False,
    overwrite: bool = False,
) -> SyntheticDataset:
    """Write a deterministic synthetic M100 data set in the raw release layout.

    The same arguments always give the same rows. A node's data depend only on
    ``seed``, its id and the time span, not on the other nodes generated.

    Args:
        out_dir: Folder to write to; created if missing, must be empty unless
            ``overwrite`` is set.
        n_nodes: Number of compute nodes, drawn deterministically from the
            seed among ids 0..979 (the first k ids are the same for any
            ``n_nodes`` >= k). Ignored when ``node_ids`` is given.
        days: Length of the run in days (fractions allowed).
        seed: Non-negative seed of every random draw.
        start: First instant (a date or timestamp; naive means UTC). A run
            that crosses a month boundary writes into both months.
        metric_set: ``"full"`` (every IPMI sensor of the release, 54 numeric
            and 4 string Ganglia metrics) or ``"compact"`` (34 numeric
            metrics of every family plus ``os_name`` and ``machine_type``).
        ipmi_period_s: IPMI sampling period in seconds.
        ganglia_period_s: Base Ganglia period (GPU metrics); slower families
            keep their documented periods when those are longer.
        anomaly_rate: Expected anomaly episodes per node and day.
        files_per_metric: Number of ``a_{i}.parquet`` files each
            (month, metric) folder is split into.
        node_ids: Explicit compute node ids (0..979) instead of ``n_nodes``.
        progress: Show a progress bar over the metrics.
        overwrite: Replace the ``year_month=*`` folders, ``ground_truth.csv``
            and ``README.txt`` of an earlier run in ``out_dir``.

    Returns:
        What was written: root, nodes, ground truth and metric names.

    Note:
        ``out_dir`` also holds ``ground_truth.csv`` and ``README.txt``, which
        a real release does not: read the ``year_month=*`` folders (or pass
        ``exclude_invalid_files=True`` to ``pyarrow.dataset.dataset``).

    Raises:
        ConfigError: An argument is out of range (``n_nodes`` < 1, ``days``
            <= 0, an unknown ``metric_set``, ...) or ``out_dir`` is not empty.

    Example:
        >>> ds = generate_raw("/tmp/m100-synth", n_nodes=4, days=1.0)  # doctest: +SKIP
        >>> ds.ground_truth[["node", "kind", "nagios_reaction"]]  # doctest: +SKIP
    """
    if metric_set not in ("full", "compact"):
        raise ConfigError(f"metric_set must be 'full' or 'compact', got {metric_set!r}")
    seed = _check_int("seed", seed, 0)
    ipmi_period_s = _check_int("ipmi_period_s", ipmi_period_s, 1, 3600)
    ganglia_period_s = _check_int("ganglia_period_s", ganglia_period_s, 1, 3600)
    files_per_metric = _check_int("files_per_metric", files_per_metric, 1, 1000)
    try:
        rate = float(anomaly_rate)
    except (TypeError, ValueError):
        raise ConfigError(f"anomaly_rate must be a number, got {anomaly_rate!r}") from None
    if not math.isfinite(rate) or rate < 0:
        raise ConfigError(f"anomaly_rate must be >= 0, got {anomaly_rate!r}")
    frame = _make_frame(start, days)
    ids = _choose_nodes(seed, n_nodes, node_ids)
    root = _prepare_root(out_dir, overwrite)

    models = [_NodeModel(seed, node, frame, rate) for node in ids]
    specs = _metric_specs(metric_set, ipmi_period_s, ganglia_period_s)
    writer = _PartitionWriter(root, frame, files_per_metric)
    dictionary = pa.array([m.name for m in models], type=pa.string())
    written: dict[str, list[str]] = {"ipmi_pub": [], "ganglia_pub": [], "nagios_pub": []}
    bar = specs
    if progress:

        bar = tqdm(specs, desc="synthetic M100 metrics", unit="metric")
    for spec in bar:
        if _write_metric(spec, models, writer, dictionary, seed):
            written[spec.plugin].append(spec.name)
    if _write_nagios(models, frame, writer, seed):
        written["nagios_pub"].append("state")

    truth = _ground_truth(models)
    truth.to_csv(root / "ground_truth.csv", index=False)
    nodes = [m.name for m in models]
    _write_readme(root, seed, nodes, frame, metric_set, ipmi_period_s, ganglia_period_s,
                  rate, files_per_metric, len(truth))
    return SyntheticDataset(
        root=root,
        nodes=nodes,
        ground_truth=truth,
        metrics={plugin: sorted(names) for plugin, names in written.items()},
    )
