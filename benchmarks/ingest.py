"""Ingest benchmark: `prepare` on a generated raw release vs a bare pyarrow read.

Prints, for one generated raw dataset (default 50 nodes x 2 days, full metric
set, 20 s sampling as on M100):

* rows/s of ``ftl_tff.data.building.prepare`` (readings in / seconds);
* the ratio of prepare time to a bare ``pyarrow.parquet.read_table`` of the
  same files (the columns prepare needs), measured in the same run,
  interleaved, median of ``--repeat`` runs (target: <= 2.0);
* peak RSS of prepare in a fresh process for D and 2*D days (target: peak
  memory that does not grow with the number of days read), next to the size
  of the prepared result: readings are streamed in bounded batches, but the
  window statistics of every node stay in memory until the per-node files are
  written, so memory grows with the result (nodes x windows x features), not
  with the readings.

Usage::

    python benchmarks/ingest.py [--nodes 50] [--days 2] [--repeat 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from ftl_tff.data import prepare
from ftl_tff.data.readers.raw import scan_raw
from ftl_tff.data.synthetic import generate_raw

_CHILD = r"""
import json, resource, sys, time
from ftl_tff.data import prepare
started = time.perf_counter()
ds = prepare(sys.argv[1], sys.argv[2], "raw")
cells = sum(info["windows"] for info in ds.manifest["nodes"].values()) * len(ds.feature_columns)
print(json.dumps({"seconds": time.perf_counter() - started, "result_mb": cells * 4 / 2**20,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def bare_read(root: Path) -> tuple[float, int]:
    """Read every selected file's needed columns with pyarrow; return (seconds, rows)."""
    files = [f for f in scan_raw(root) if f.plugin in ("ipmi_pub", "ganglia_pub", "nagios_pub")]
    started = time.perf_counter()
    rows = 0
    for item in files:
        columns = ["timestamp", "value", "node"] + (["nagiosdrained"] if item.plugin == "nagios_pub" else [])
        rows += pq.read_table(item.path, columns=columns).num_rows
    return time.perf_counter() - started, rows


def timed_prepare(root: Path, out: Path) -> float:
    started = time.perf_counter()
    prepare(root, out, "raw")
    return time.perf_counter() - started


def child_peak(root: Path, out: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", _CHILD, str(root), str(out)], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--metric-set", default="full", choices=["full", "compact"])
    parser.add_argument("--workdir", type=Path, default=None, help="Keep generated data here (default: a temp dir).")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        roots = {}
        for days in (args.days, 2 * args.days):
            root = work / f"raw-{args.nodes}n-{days:g}d"
            if not (root / "ground_truth.csv").exists():
                started = time.perf_counter()
                generate_raw(root, n_nodes=args.nodes, days=days, seed=0, metric_set=args.metric_set, overwrite=True)
                print(f"generated {args.nodes} nodes x {days:g} days in {time.perf_counter() - started:.1f} s")
            roots[days] = root
        root = roots[args.days]
        bare_read(root)  # warm the page cache so both sides read from memory
        bare, prep = [], []
        rows = 0
        for i in range(args.repeat):
            seconds, rows = bare_read(root)
            bare.append(seconds)
            prep.append(timed_prepare(root, work / f"prepared-{i}"))
        bare_s, prep_s = statistics.median(bare), statistics.median(prep)
        peaks = {days: child_peak(roots[days], work / f"peak-{days:g}") for days in roots}

    print(f"\ningest benchmark: {args.nodes} nodes, {args.metric_set} metric set, {rows:,} readings per run")
    print(f"  bare pyarrow read : {bare_s:8.2f} s  (median of {args.repeat})")
    print(f"  ftl-tff prepare   : {prep_s:8.2f} s  -> {rows / prep_s:,.0f} rows/s")
    print(f"  ratio prepare/bare: {prep_s / bare_s:8.2f}  (target <= 2.0)")
    small, large = sorted(peaks)
    for days in (small, large):
        print(f"  peak RSS, {days:g} days : {peaks[days]['peak_rss_mb']:8.0f} MB  ({peaks[days]['seconds']:.1f} s; "
              f"prepared result {peaks[days]['result_mb']:.0f} MB as float32)")
    print(f"  peak RSS ratio {large:g}d/{small:g}d: {peaks[large]['peak_rss_mb'] / peaks[small]['peak_rss_mb']:.2f}"
          "  (target: ~1.0, memory does not grow with days read)")


if __name__ == "__main__":
    main()
