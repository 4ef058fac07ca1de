"""Federated unsupervised anomaly detection on M100 telemetry (the paper's command line).

    python examples/run_federated_unsupervised.py --dataset D1 --nodes 10 --strategy topN

Options: --data DIR (prepared dataset), --rounds, --strategy randomN, --seed, --out.
"""

import sys

from _common import run_federated

if __name__ == "__main__":
    sys.exit(run_federated("unsupervised"))
