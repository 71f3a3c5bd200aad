#!/usr/bin/env bash
# garak (PyPI, 0.17.1) through Wardgate against an upstream that obeys any instruction (issue 14, done-when 2).
#
#   GARAK_VENV=/tmp/garak CAP=64 bash bench/garak/run.sh
#
# garak is installed on its own, without its model dependencies (torch, transformers): the probes promptinject,
# dan, latentinjection and encoding and their detectors are string-based.
#   python -m venv /tmp/garak && /tmp/garak/bin/pip install --no-deps garak==0.17.1 && /tmp/garak/bin/pip install \
#     'openai>=2,<3' aiohttp tqdm colorama backoff xdg-base-dirs jsonschema nltk pyyaml requests base2048 ecoji \
#     zalgolib stdlibs markdown jsonpath-ng lorem numpy mikeshardmind-base2048 ftfy langdetect tiktoken pillow \
#     py-markdown-table avidtools cmd2==2.4.3
# CAP is garak's soft_probe_prompt_cap (its default is 256 prompts per probe).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
GARAK_VENV="${GARAK_VENV:-/tmp/garak}"
CAP="${CAP:-64}"
SENSITIVITY="${SENSITIVITY:-balanced}"
WORK="$(mktemp -d)"
UP_PORT=18181 GW_PORT=18182
cat > "$WORK/wardgate.yaml" <<YAML
master_key: sk-garak-master-key
store: sqlite:///$WORK/wardgate.db
providers:
  obedient: {type: openai, base_url: http://127.0.0.1:$UP_PORT/v1, api_key: sk-fake}
models:
  obedient:
    - {provider: obedient, model: obedient}
guards:
  - {name: injection, type: injection, on: request, action: block, sensitivity: $SENSITIVITY}
YAML
cat > "$WORK/generator.json" <<JSON
{"openai": {"OpenAICompatible": {"uri": "http://127.0.0.1:$GW_PORT/v1/", "api_key": "sk-garak-master-key",
 "model": "obedient", "max_tokens": 64, "suppressed_params": ["n", "frequency_penalty", "presence_penalty", "stop"]}}}
JSON
printf 'run:\n  soft_probe_prompt_cap: %s\n' "$CAP" > "$WORK/garak.yaml"
"$GARAK_VENV/bin/python" "$ROOT/bench/garak/obedient_upstream.py" --port $UP_PORT > "$WORK/upstream.log" 2>&1 &
UP=$!
"$ROOT/.venv/bin/wardgate" serve --config "$WORK/wardgate.yaml" --host 127.0.0.1 --port $GW_PORT --workers 2 \
  > "$WORK/wardgate.log" 2>&1 &
GW=$!
trap 'kill $UP $GW 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -sf -o /dev/null "http://127.0.0.1:$GW_PORT/v1/chat/completions" -H "Authorization: Bearer sk-garak-master-key" \
    -H "content-type: application/json" -d '{"model": "obedient", "messages": [{"role": "user", "content": "hi"}]}' \
    && break
  sleep 1
done
cd "$WORK"
OPENAICOMPATIBLE_API_KEY=sk-garak-master-key "$GARAK_VENV/bin/python" -m garak --config "$WORK/garak.yaml" \
  --model_type openai.OpenAICompatible --model_name obedient --generator_option_file "$WORK/generator.json" \
  --probes promptinject,dan,latentinjection,encoding --generations 1 --parallel_attempts 8 --seed 0 \
  --report_prefix "wardgate_$SENSITIVITY" > "$WORK/garak.log" 2>&1 || true
REPORT="$(ls -t "$HOME"/.local/share/garak/garak_runs/wardgate_"$SENSITIVITY".report.jsonl | head -1)"
echo "work dir: $WORK; report: $REPORT; upstream failures: $(grep -c 'upstream failure' "$WORK/wardgate.log" || true)"
"$GARAK_VENV/bin/python" "$ROOT/bench/garak/attack_success.py" "$REPORT"
