"""The Dockerfile's build, tested as a script where no container builder runs (issue 20, done-when 4):
deploy/docker/image-steps.sh performs each stage's steps in a fresh venv. Here: that the script's steps are the
Dockerfile's (the same files copied, the same scripts run), always; and the script itself (minutes: it builds every
wheel from the registry) when WARDGATE_IMAGE_STEPS=1 (`make image-steps`)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STEPS = ROOT / "deploy" / "docker" / "image-steps.sh"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_the_script_copies_what_the_dockerfile_copies_and_runs_its_scripts() -> None:
    script = STEPS.read_text()
    copies = [args.split() for word, args in instructions() if word == "COPY"]
    for args in copies:
        sources = [a for a in args[:-1] if not a.startswith("--")]
        for source in sources:
            if args[0].startswith("--from="):
                assert source == "/wheels"  # the build stage's output, the script's "$work/wheels"
                continue
            assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which is not in the repository"
            assert source.rstrip("/") in script, f"image-steps.sh does not copy {source}"
    runs = [args for word, args in instructions() if word == "RUN"]
    assert any("build-wheels.sh" in r for r in runs) and any("install-wheels.sh" in r for r in runs)
    for name in ("build-wheels.sh", "install-wheels.sh"):
        assert f"sh deploy/docker/{name}" in script or f"/{name}'" in script
    healthcheck = next(args for word, args in instructions() if word == "HEALTHCHECK")
    probe = re.search(r"urlopen\('http://127\.0\.0\.1:4000/health/live', timeout=2\)", healthcheck)
    assert probe is not None and "urlopen('http://127.0.0.1:$port/health/live', timeout=2)" in script
    entrypoint = next(args for word, args in instructions() if word == "ENTRYPOINT")
    assert "dumb-init" in entrypoint and "dumb-init -- wardgate serve --config" in script


@pytest.mark.skipif(os.environ.get("WARDGATE_IMAGE_STEPS") != "1", reason="minutes, and the registry: make image-steps")
def test_the_image_steps_build_install_serve_and_stop(tmp_path: Path) -> None:
    result = subprocess.run(["sh", str(STEPS), str(tmp_path)], capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "HEALTHCHECK passed; SIGTERM through dumb-init: exit 0" in result.stdout
