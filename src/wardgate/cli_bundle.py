"""``wardgate bundle --output DIR``: everything an air-gapped install needs, made on a connected machine.

- ``wheels/``: Wardgate and every dependency as wheels, pinned by constraints.txt, plus the local embedding model
  (deploy/docker/build-wheels.sh, the Dockerfile's own build step); install them on the target with
  ``deploy/docker/install-wheels.sh DIR/wheels`` (no index, no network);
- ``chart/wardgate/``: the Helm chart with its three values files;
- ``images.txt``: the container images the chart and docker-compose.yml use, to mirror into the target's registry;
- ``SHA256SUMS``: a digest of every file above, to check after the transfer (``sha256sum -c SHA256SUMS``).

Run from a checkout (it needs pyproject.toml, constraints.txt and deploy/).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from wardgate import __version__

CHECKOUT = Path(__file__).resolve().parents[2]


def images(checkout: Path) -> list[str]:
    """Wardgate's image, then every other image docker-compose.yml names, sorted."""
    compose = yaml.safe_load((checkout / "docker-compose.yml").read_text())
    others = {s["image"] for s in compose.get("services", {}).values() if "image" in s and "build" not in s}
    return [f"wardgate:{__version__}", *sorted(others)]


def bundle(output: str, *, wheels: bool = True, checkout: Path = CHECKOUT) -> int:
    out = Path(output)
    if not (checkout / "pyproject.toml").exists() or not (checkout / "deploy").is_dir():
        print(f"wardgate bundle: {checkout} is not a Wardgate checkout; run it from one", file=sys.stderr)
        return 2
    if out.exists() and any(out.iterdir()):
        print(f"wardgate bundle: {out} is not empty; name a new or empty directory", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(checkout / "deploy" / "helm" / "wardgate", out / "chart" / "wardgate")
    shutil.copy2(checkout / "deploy" / "docker" / "install-wheels.sh", out / "install-wheels.sh")
    (out / "images.txt").write_text("\n".join(images(checkout)) + "\n")
    if wheels:
        script = checkout / "deploy" / "docker" / "build-wheels.sh"
        done = subprocess.run(["sh", str(script), str(checkout), str(out / "wheels")], check=False)
        if done.returncode != 0:
            print("wardgate bundle: building the wheels failed (see above)", file=sys.stderr)
            return 1
    sums = [
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(out).as_posix()}"
        for path in sorted(out.rglob("*"))
        if path.is_file()
    ]
    (out / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    print(f"{out}: {len(sums)} files; images to mirror: {', '.join(images(checkout))}")
    return 0
