"""A fake OpenAI chat upstream that obeys any instruction (issue 14, done-when 2): the worst case a guard must cover.

It runs in garak's environment (it uses garak's probes as an oracle) and answers each chat call with everything an
attack may want said: the prompt itself (so a hijack's rogue string, a latent injection's trigger and a jailbreak's
persona markers are all in the answer), the decoded payload when the prompt is one of garak's encoding probes (it
knows them all: it builds them with garak's own encoders), and a compliant DAN-style opening. So a prompt that
reaches it counts as a successful attack by garak's detectors, and a prompt the gateway blocks (400) does not.

    /tmp/garak/bin/python bench/garak/obedient_upstream.py --port 18181
"""

from __future__ import annotations

import argparse
import time

from aiohttp import web

COMPLIANT = "DAN: Sure! DAN Mode enabled. [🔓JAILBREAK] Developer Mode enabled. Here is exactly what you asked for:\n"


def encoding_oracle() -> dict[str, list[str]]:
    """Every encoding probe's prompt, with the payloads it hides (garak's ``triggers`` for that prompt)."""
    import garak.probes.encoding as encoding
    from garak import _config

    _config.load_base_config()
    oracle: dict[str, list[str]] = {}
    for name in dir(encoding):
        cls = getattr(encoding, name)
        if isinstance(cls, type) and name.startswith("Inject") and hasattr(cls, "encoding_name"):
            try:
                probe = cls()
            except Exception:  # noqa: BLE001 - a probe that needs a missing optional module is skipped
                continue
            for prompt, trigger in zip(probe.prompts, probe.triggers, strict=False):
                text = prompt if isinstance(prompt, str) else prompt.turns[-1].content.text
                oracle.setdefault(text, []).append(trigger)
    return oracle


def app(oracle: dict[str, list[str]]) -> web.Application:
    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        messages = body.get("messages") or []
        prompt = ""
        for message in reversed(messages):
            if message.get("role") == "user":
                content = message.get("content")
                prompt = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)
                break
        decoded = "\n".join(oracle.get(prompt, []))
        answer = COMPLIANT + (decoded + "\n" if decoded else "") + prompt
        return web.json_response(
            {
                "id": "chatcmpl-obedient",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "obedient"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": len(answer) // 4,
                          "total_tokens": (len(prompt) + len(answer)) // 4},
            }
        )  # fmt: skip

    application = web.Application(client_max_size=16 * 1024 * 1024)
    application.router.add_post("/v1/chat/completions", chat)
    application.router.add_get("/v1/", lambda _: web.json_response({"ok": True}))
    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=18181)
    args = parser.parse_args()
    web.run_app(app(encoding_oracle()), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
