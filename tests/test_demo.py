"""The main job: `ftl-tff demo --quick` runs the whole method and writes a report."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from ftl_tff_cli.main import main

from ftl_tff._processes import child_pids_named


def test_quick_demo_writes_the_report_with_federated_transfer_and_statistics(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "[3/3] Results" in result.output and "Report:" in result.output
    report = (out / "report.md").read_text()
    for section in ("## Headline", "Transfer vs local on the non-participating nodes",
                    "Federated vs baselines on the participating nodes", "## Data efficiency"):
        assert section in report, section
    methods = set(__import__("pandas").read_csv(out / "per_node.csv")["method"])
    assert methods == {"federated", "local", "centralized", "zero-shot", "fine-tune"}
    for figure in ("f1_distributions.png", "training_curves.png", "error_timeline.png", "data_efficiency.png"):
        assert (out / "figures" / figure).exists(), figure
    assert not child_pids_named("worker_binary")
    # A second run replaces the earlier demo; a folder that is not a demo's is never deleted.
    other = tmp_path / "mine"
    other.mkdir()
    (other / "thesis.tex").write_text("keep me")
    result = CliRunner().invoke(main, ["demo", "--quick", "--out", str(other)])
    assert result.exit_code == 1 and "not an ftl-tff demo results folder" in result.output
    assert (other / "thesis.tex").exists()


@pytest.mark.slow
def test_demo_on_the_real_sample(tmp_path, real_sample):
    result = CliRunner().invoke(main, ["demo", "--real-sample", str(real_sample), "--out", str(tmp_path / "real")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "real" / "report.md").exists()
