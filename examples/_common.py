"""Shared plumbing of the example scripts: where the data comes from, and the federated run.

The scripts reproduce the command lines of Farooq et al.'s README
(``--dataset D1 --nodes 10 --strategy topN``) on ftl-tff. ``--dataset`` names
a feature set (D1: IPMI + Ganglia; D2: every feature of the prepared
dataset; see ``ftl_tff.data.building.features``); the prepared dataset itself comes
from ``--data DIR`` (a folder written by ``ftl-tff data prepare``), else
``$FTL_TFF_DATA``, else ``./ftl-example-data/prepared``, which is generated
(synthetic M100 telemetry, 40 nodes x 14 days) the first time it is needed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEFAULT_DATA = Path("ftl-example-data")


def data_arguments(parser: argparse.ArgumentParser) -> None:
    """Options that choose the prepared dataset and its feature set."""
    parser.add_argument("--dataset", default="D1", choices=["D1", "D2", "all"],
                        help="Feature set: D1 = IPMI + Ganglia, D2 = every feature of the prepared data.")
    parser.add_argument("--data", type=Path, default=None,
                        help="Prepared dataset folder (default: $FTL_TFF_DATA, else ./ftl-example-data/prepared, "
                             "generated when missing).")
    parser.add_argument("--synthetic-nodes", type=int, default=40, help="Nodes of generated data (when generated).")
    parser.add_argument("--synthetic-days", type=float, default=14.0, help="Days of generated data.")


def prepared_dataset(args: argparse.Namespace) -> Path:
    """The prepared dataset folder, generated on first use when no --data is given."""
    from ftl_tff.data import prepare
    from ftl_tff.data.synthetic import generate_raw

    if args.data is not None:
        return args.data
    if os.environ.get("FTL_TFF_DATA"):
        return Path(os.environ["FTL_TFF_DATA"])
    root = DEFAULT_DATA / f"synthetic-{args.synthetic_nodes}n-{args.synthetic_days:g}d"
    prepared = root / "prepared"
    if not (prepared / "manifest.json").exists():
        print(f"No --data given: generating M100-format telemetry ({args.synthetic_nodes} nodes x "
              f"{args.synthetic_days:g} days) into {root} ...", flush=True)
        generate_raw(root / "raw", n_nodes=args.synthetic_nodes, days=args.synthetic_days, seed=0,
                     metric_set="compact", ipmi_period_s=60, ganglia_period_s=60, anomaly_rate=1.0, overwrite=True)
        prepare(root / "raw", prepared, "raw")
    return prepared


def run_federated(paradigm: str, argv: list[str] | None = None) -> int:
    """Select N nodes, train the federated model with ``paradigm``, print the result."""
    parser = argparse.ArgumentParser(description=f"Federated {paradigm} anomaly detection (ftl-tff).")
    data_arguments(parser)
    parser.add_argument("--nodes", type=int, default=10, help="Participating nodes (N).")
    parser.add_argument("--strategy", default="topN", choices=["topN", "randomN"], help="Node selection.")
    parser.add_argument("--by", default="training_windows", help="Top-N criterion.")
    parser.add_argument("--rounds", type=int, default=20, help="Federated rounds.")
    parser.add_argument("--batch-size", type=int, default=32, help="Client batch size.")
    parser.add_argument("--seed", type=int, default=0, help="Seed.")
    parser.add_argument("--out", type=Path, default=None, help="Run folder (default: runs/<paradigm>-...).")
    args = parser.parse_args(argv)

    from ftl_tff.config import RunConfig
    from ftl_tff.errors import FtlError
    from ftl_tff.runs import select_and_train

    try:
        out = args.out or Path("runs") / f"{paradigm}-{args.strategy}{args.nodes}-{args.dataset}"
        config = RunConfig.from_flat({"paradigm": paradigm, "rounds": args.rounds, "batch_size": args.batch_size,
                                      "seed": args.seed, "features": args.dataset})
        _, summary = select_and_train(prepared_dataset(args), out, config, strategy=args.strategy, n_nodes=args.nodes,
                                      criterion=args.by, progress=sys.stderr.isatty(), resume=True)
    except FtlError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    for method, metrics in summary["metrics"].items():
        f1, auc = (metrics.get(m, {}).get("mean") for m in ("f1", "roc_auc"))
        print(f"{method:12s} mean F1 {_fmt(f1)}  mean ROC-AUC {_fmt(auc)}")
    print(f"Wrote {out}. Transfer it: python examples/run_transfer_learning.py --dataset {args.dataset} "
          f"--pretrained_model {out}/model" + (f" --data {args.data}" if args.data else ""))
    return 0


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:.3f}"
