"""Large files pass through ``/v1/files`` and ``/v1/batches`` without being held in memory (issue 19: a 512 MB file
upload and a 512 MB batch output with at most 20 MB of RSS growth).

The gateway, the fake provider (which writes uploads to disk and sends files from disk) and the client (which
streams the form from a generator and reads the download in pieces) share this process, so any copy of a whole
file would show in its peak RSS, which is reset (``/proc/self/clear_refs``) before each transfer and read after.
The suite moves ``WARDGATE_UPLOAD_TEST_MB`` (default 48) megabytes; ``make upload-memory`` sets 512.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.fakes.openai_files import FakeOpenAIFiles
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.api.batch_settle import settlement_id
from wardgate.store.usage import by_request_id

MEGABYTES = int(os.environ.get("WARDGATE_UPLOAD_TEST_MB", "48"))
CHUNK = b"\x00" * (1024 * 1024)
BOUNDARY = "wardgate-files-memory"
MAX_GROWTH = 20 * 1024 * 1024
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
pytestmark = pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc for peak RSS")


def _rss(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


class Peak:
    def __enter__(self) -> Peak:
        self.before = _rss("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM) to the current RSS
        return self

    def __exit__(self, *exc: object) -> None:
        self.growth = _rss("VmHWM") - self.before


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIFiles]:
    with FakeOpenAIFiles("sk-files-memory").start() as f:
        yield f


@pytest.fixture(scope="module")
def gateway(fake: FakeOpenAIFiles) -> Iterator[RunningGateway]:
    config = f"""
server: {{max_upload_bytes: {(MEGABYTES + 1) * 1024 * 1024}}}
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-files-memory}}
files: {{provider: up, settle_every_s: 0}}  # retrievals settle batches here, not the poller
models:
  mini: [{{provider: up, model: gpt-4o-mini}}]
"""
    with gateway_from_yaml(config) as gw:
        yield gw


def _form() -> Iterator[bytes]:
    yield (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n'
           f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
           "Content-Type: application/octet-stream\r\n\r\n").encode()  # fmt: skip
    for _ in range(MEGABYTES):
        yield CHUNK
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def test_a_large_file_upload_streams_through_without_growing_memory(
    gateway: RunningGateway, fake: FakeOpenAIFiles
) -> None:
    with httpx.Client(timeout=300) as client:
        client.get(gateway.root + "/health/ready")  # connections and buffers warmed up before measuring
        with Peak() as peak:
            form_type = f"multipart/form-data; boundary={BOUNDARY}"
            answer = client.post(gateway.url + "/files", content=_form(), headers={**AUTH, "content-type": form_type})
    assert answer.status_code == 200, answer.text
    assert answer.json()["bytes"] == MEGABYTES * 1024 * 1024  # the whole file reached the provider
    print(f"upload of {MEGABYTES} MiB: peak RSS +{peak.growth / 2**20:.1f} MiB")  # shown with -s (make upload-memory)
    assert peak.growth <= MAX_GROWTH, f"peak RSS grew by {peak.growth / 2**20:.1f} MiB"


def test_a_large_batch_output_is_metered_and_downloaded_without_growing_memory(
    gateway: RunningGateway, fake: FakeOpenAIFiles
) -> None:
    ask = {"model": "mini", "messages": [{"role": "user", "content": "count these words please"}]}
    line = {"custom_id": "r", "method": "POST", "url": "/v1/chat/completions", "body": ask}
    with httpx.Client(timeout=300) as client:
        uploaded = client.post(gateway.url + "/files", data={"purpose": "batch"},
                               files={"file": ("in.jsonl", orjson.dumps(line) + b"\n")}, headers=AUTH)  # fmt: skip
        assert uploaded.status_code == 200, uploaded.text
        create = {
            "input_file_id": uploaded.json()["id"],
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
        }
        batch = client.post(gateway.url + "/batches", headers=AUTH, json=create)
        assert batch.status_code == 200, batch.text
        batch_id = batch.json()["id"]
        fake.inflate(batch_id, MEGABYTES)
        with Peak() as metering:  # the first retrieval of the ended batch meters its whole output
            done = client.get(gateway.url + f"/batches/{batch_id}", headers=AUTH)
        assert done.status_code == 200 and done.json()["status"] == "completed", done.text
        received = 0
        with (
            Peak() as download,
            client.stream(
                "GET", gateway.url + f"/files/{done.json()['output_file_id']}/content", headers=AUTH
            ) as content,
        ):
            assert content.status_code == 200
            for piece in content.iter_raw(1024 * 1024):
                received += len(piece)
    assert received >= MEGABYTES * 1024 * 1024
    gateway.run(gateway.worker.ledger.flush())
    row = gateway.run(by_request_id(gateway.worker.engine, settlement_id(batch_id)))
    assert row is not None
    assert (row["input_tokens"], row["output_tokens"]) == (
        fake.usage[batch_id]["prompt_tokens"],
        fake.usage[batch_id]["completion_tokens"],
    )
    print(f"batch output of {MEGABYTES} MiB: metering +{metering.growth / 2**20:.1f} MiB, "
          f"download +{download.growth / 2**20:.1f} MiB")  # fmt: skip
    assert metering.growth <= MAX_GROWTH, f"metering grew peak RSS by {metering.growth / 2**20:.1f} MiB"
    assert download.growth <= MAX_GROWTH, f"the download grew peak RSS by {download.growth / 2**20:.1f} MiB"
