"""`make deploy-judges`: the Helm chart rendered for each values file, then checkov over the manifests.

checkov and its dependencies live in their own venv (.venv/deploy-judges): their pins would fight the gateway's.
Offline, checkov reports no severities (they come from its platform), so the result is the list of failed check ids;
the ones this chart leaves failing, and why, are in docs/operations.md#helm-chart.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import helm_python as helm
import yaml

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "wardgate"


def main() -> int:
    chart = helm.Chart.load(CHART)
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for values_file in ("values.yaml", "values-ha.yaml", "values-airgap.yaml"):
            values = yaml.safe_load((CHART / values_file).read_text())
            out = Path(tmp) / values_file.removesuffix(".yaml")
            out.mkdir()
            for path, text in chart.render(values, name="wardgate", namespace="ai", is_install=True).items():
                (out / Path(path).name).write_text(text)
            print(f"== {values_file}", flush=True)
            checkov = Path(sys.executable).parent / "checkov"
            run = [str(checkov), "-d", str(out), "--framework", "kubernetes", "--compact", "--quiet"]
            failed |= subprocess.run(run, check=False).returncode
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
