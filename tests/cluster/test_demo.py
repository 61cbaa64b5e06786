"""The README's first command: the demo story runs to the end on the local cluster."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.cluster


def test_the_demo_trains_shadows_promotes_rolls_back_and_retrains(local_cluster) -> None:
    if local_cluster is None:
        pytest.skip("the demo drives the local cluster")
    result = subprocess.run(
        [sys.executable, "-m", "mlops_dev.cli", "--home", str(local_cluster.home), "demo"],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    out = result.stdout
    assert "iris-v2 promoted" in out
    assert "iris-v3 rolled back by the operator: ShadowFailed" in out
    assert "iris-v3 answered none of the" in out
    assert "retraining run iris-nightly-r1 started" in out and "iris-v4 promoted" in out
    chart = out.split("timeline chart: ")[1].split()[0]
    with open(chart, "rb") as image:
        assert image.read(8) == b"\x89PNG\r\n\x1a\n"
