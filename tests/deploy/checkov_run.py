"""`make deploy-judges`: the Helm chart rendered for each values file, then checkov over the manifests.

checkov and its dependencies live in their own venv (.venv/deploy-judges): their pins would fight the gateway's.
It runs with `--skip-download` (no network: severities come from Prisma Cloud's platform, so offline checkov
reports none). Each values file is rendered as shipped (image by tag) and once more with `image.digest` set; the
only check a tag may fail is CKV_K8S_43 (image by digest: the chart cannot know your build's digest; KICS rates the
same rule Low). Anything else failing, or any failure with a digest, exits 1. docs/operations.md#helm-chart.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "wardgate"
DIGEST = "sha256:" + "0" * 64  # any well-formed digest: checkov checks the image reference's form
TAG_ONLY = {"CKV_K8S_43"}


def checkov(directory: Path) -> tuple[int, list[tuple[str, str]]]:
    """(passed, [(check id, resource)]) for the manifests in ``directory``."""
    exe = Path(sys.executable).parent / "checkov"
    run = [str(exe), "-d", str(directory), "--framework", "kubernetes", "--skip-download", "-o", "json"]
    out = subprocess.run(run, check=False, capture_output=True, text=True).stdout
    reports: Any = json.loads(out) if out.strip().startswith(("{", "[")) else {}
    if isinstance(reports, dict):
        reports = [reports]
    passed, failed = 0, []
    for report in reports:
        results = report.get("results", {})
        passed += int(report.get("summary", {}).get("passed", 0))
        failed += [(c["check_id"], c["resource"]) for c in results.get("failed_checks", [])]
    return passed, failed


def main() -> int:
    chart = helm.Chart.load(CHART)
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for values_file in ("values.yaml", "values-ha.yaml", "values-airgap.yaml"):
            for digest in (False, True):
                values = yaml.safe_load((CHART / values_file).read_text())
                if digest:
                    values.setdefault("image", {})["digest"] = DIGEST  # merged over the chart's defaults
                out = Path(tmp) / f"{values_file.removesuffix('.yaml')}{'-digest' if digest else ''}"
                out.mkdir()
                for path, text in chart.render(values, name="wardgate", namespace="ai", is_install=True).items():
                    (out / Path(path).name).write_text(text)
                passed, failed = checkov(out)
                allowed = set() if digest else TAG_ONLY
                unexpected = [f for f in failed if f[0] not in allowed]
                bad += len(unexpected)
                label = f"{values_file}{' + image.digest' if digest else ''}"
                ids = ", ".join(sorted({f"{check} ({resource})" for check, resource in failed})) or "none"
                print(f"{label}: {passed} passed, {len(failed)} failed: {ids}", flush=True)
    print("unexpected failures:", bad)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
