"""The prompts stage's cost per request, in microseconds of CPU, without any network (issue 17, point 5: render
p99 ≤ 0.2 ms, the full path with a prompt ≤ 5 % slower; the full path costs ~1 ms CPU a request, bench/RESULTS.md).
Times are this thread's CPU time: on a loaded machine, preemption is not counted.

    .venv/bin/python bench/prompts_overhead.py            # 50,000 calls per case
    .venv/bin/python bench/prompts_overhead.py --n 20000

"render" is one compiled version's render alone (a ~1 KB system prompt, two few-shot messages, four variables and
a schema); the stage lines are before() + after() on a fresh Call: a request that names no prompt, one that names a
label, one whose label runs a canary.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from typing import Any, cast

from wardgate.config.prompts import DecoratorConfig
from wardgate.core.call import Call
from wardgate.core.principal import Principal
from wardgate.prompts.canary import RollbackRule
from wardgate.prompts.decorate import Decorators
from wardgate.prompts.outcomes import CanaryOutcomes
from wardgate.prompts.stage import PromptsStage
from wardgate.prompts.state import Canary, PromptState, Target
from wardgate.prompts.template import compile_version, version_id
from wardgate.store.prompts import PromptStore

SPEC: dict[str, Any] = {
    "messages": [
        {
            "role": "system",
            "content": "You are the support assistant of {{ principal.project }} for {{ customer.name }} "
            "({{ tier }} tier). "
            + "Answer politely, cite the knowledge base and never invent policies. " * 14
            + "{% if tier == 'pro' %}Offer the priority line.{% endif %} Locale: {{ locale }}.",
        },
        {"role": "user", "content": "How do I reset my password?"},
        {"role": "assistant", "content": "Open Settings → Security → Reset password."},
    ],
    "model": "gpt",
    "params": {"temperature": 0.2, "max_tokens": 256},
    "variables": {
        "type": "object",
        "properties": {
            "customer": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
            "tier": {"enum": ["free", "pro"]},
            "locale": {"type": "string"},
        },
        "required": ["customer", "tier"],
    },
}
VARIABLES = {"customer": {"name": "Ada"}, "tier": "pro", "locale": "en-GB"}
PRINCIPAL = Principal("key", "key-1", project="p1", project_name="shop", user="user-1")


def new_call(body: dict[str, Any]) -> Call:
    call = Call("r", "openai", "chat", str(body["model"]), body, False, None, time.perf_counter())
    call.principal = PRINCIPAL
    return call


def summary(name: str, samples: list[float]) -> str:
    samples.sort()
    p50, p99 = statistics.median(samples), samples[int(len(samples) * 0.99)]
    return f"{name:<28} p50 {p50:7.1f} µs   p99 {p99:7.1f} µs   mean {statistics.fmean(samples):7.1f} µs"


async def main(n: int) -> None:
    version = compile_version("support", version_id(SPEC), 1, SPEC)
    canary_version = compile_version("support", "c" * 64, 2, {**SPEC, "model": "other"})
    state = PromptState(cast(PromptStore, None), 1.0)
    state.targets[("p1", "support", "production")] = Target("p1", "production", version, None)
    rule = RollbackRule()
    run = Canary("cny_1", "staging", canary_version, 10.0, "user", rule)
    state.targets[("p1", "support", "staging")] = Target("p1", "staging", version, run)
    stage = PromptsStage(state, CanaryOutcomes(None, "wg:"), lambda call: 0, 1 << 20)
    house = compile_version(
        "house",
        "h" * 64,
        1,
        {"messages": [{"role": "system", "content": "House style of {{ principal.project }}. " * 10}]},
    )
    state.targets[("p1", "house", "production")] = Target("p1", "production", house, None)
    decorated = PromptsStage(state, CanaryOutcomes(None, "wg:"), lambda call: 0, 1 << 20,
                             Decorators([DecoratorConfig(prompt="house")], state, 1 << 20))  # fmt: skip
    bound = {**VARIABLES, "principal": {"project": "shop"}, "project": {}}

    render = []
    for _ in range(n):
        t0 = time.thread_time_ns()
        version.render(bound, 1 << 20)
        render.append((time.thread_time_ns() - t0) / 1000)
    print(summary("render (version alone)", render))

    cases = {
        "stage, no prompt": {"model": "gpt", "messages": [{"role": "user", "content": "hi"}]},
        "stage, label": {"model": "gpt", "messages": [{"role": "user", "content": "hi"}],
                         "wardgate_prompt": {"name": "support", "label": "production", "variables": VARIABLES}},
        "stage, label with canary": {"model": "prompt:support@staging", "messages": [{"role": "user", "content": "hi"}],
                                     "wardgate_prompt": {"variables": VARIABLES}},
    }  # fmt: skip
    runs = [(name, body, stage) for name, body in cases.items()]
    runs.append(("decorator, no prompt", cases["stage, no prompt"], decorated))
    for name, body, under_test in runs:
        samples = []
        gc.collect()
        for i in range(n):
            call = new_call(dict(body))
            call.end_user = f"u{i % 1000}"
            t0 = time.thread_time_ns()
            await under_test.before(call)
            await under_test.after(call, None, None)
            samples.append((time.thread_time_ns() - t0) / 1000)
        print(summary(name, samples))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50_000)
    asyncio.run(main(parser.parse_args().n))
