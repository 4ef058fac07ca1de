"""Transfer a federated model to the nodes that did not train it (the paper's command line).

    python examples/run_transfer_learning.py --dataset D1 --pretrained_model runs/unsupervised-topN10-D1/model

For every non-participating node: zero-shot (the global model, threshold set
on the node's own training windows) and fine-tuned (encoder frozen, decoder
trained on the node's windows), next to a node-local model trained on the
same windows with the same budget; then the per-node gain with a Wilcoxon
test and effect size, and a report.
"""

import argparse
import sys
from pathlib import Path

from _common import data_arguments, prepared_dataset


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data_arguments(parser)
    parser.add_argument("--pretrained_model", "--pretrained-model", dest="model", type=Path, required=True,
                        help="The federated run folder or its model/ folder.")
    parser.add_argument("--mode", action="append", choices=["zero-shot", "fine-tune", "full-fine-tune"],
                        help="Transfer mode (repeatable; default zero-shot and fine-tune).")
    parser.add_argument("--epochs", type=int, default=10, help="Fine-tuning epochs (the paper: 10).")
    parser.add_argument("--efficiency-days", default="", help="Data-efficiency budgets, e.g. 1,3,7.")
    parser.add_argument("--out", type=Path, default=None, help="Results folder (default: <run>-transfer).")
    args = parser.parse_args(argv)

    from ftl_tff.config import TransferConfig
    from ftl_tff.errors import FtlError
    from ftl_tff.experiments.transfer_run import transfer_run

    run = args.model.parent if args.model.name == "model" else args.model
    out = args.out or run.with_name(run.name + "-transfer")
    try:
        days = [float(d) for d in args.efficiency_days.split(",") if d.strip()]
        config = TransferConfig(modes=tuple(args.mode or ("zero-shot", "fine-tune")), epochs=args.epochs)
        result = transfer_run(args.model, prepared_dataset(args), out, config, efficiency_days=days)
    except (FtlError, ValueError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    print(result["summary_text"])
    print(f"Report: {result['report']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
