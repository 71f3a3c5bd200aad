"""``type: bedrock``: AWS Bedrock Runtime (Converse, ConverseStream; InvokeModel for embeddings), SigV4-signed.
botocore (signing, credentials, event-stream decoding) is the ``wardgate[bedrock]`` extra, imported only when a
Bedrock provider is built.

``translate.py``, ``messages.py`` and ``embeddings.py`` hold the pure wire translation, ``stream.py`` the event
translation of ConverseStream, ``sigv4.py`` credentials and signing, ``config.py`` the config, ``adapter.py`` the I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wardgate.providers import registry
from wardgate.providers.bedrock.config import BedrockConfig

if TYPE_CHECKING:
    from wardgate.providers.bedrock.adapter import BedrockAdapter
    from wardgate.providers.http import UpstreamHTTP


def build(name: str, config: BedrockConfig, http: UpstreamHTTP) -> BedrockAdapter:
    # imported here, once per configured provider, so that a gateway without Bedrock never loads botocore
    with registry.imports_of_extra(name, "bedrock", "botocore", "bedrock", roots=("botocore",)):
        from wardgate.providers.bedrock.adapter import build as build_adapter

    return build_adapter(name, config, http)


registry.add("bedrock", BedrockConfig, build, "AWS Bedrock", operations=("chat", "embeddings", "images"))
