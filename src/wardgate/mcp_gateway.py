"""The MCP gateway's wiring: one supervised session per upstream, one SDK server per virtual server, and the
governance pipeline every MCP call goes through. Imported only when ``mcp:`` is configured."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.accounting.stage import AccountingStage
from wardgate.config.schema import Settings
from wardgate.core.batching import BatchWriter
from wardgate.core.call import CostOf
from wardgate.core.pipeline import Stage
from wardgate.core.runtime import Runtime
from wardgate.limits.stage import LimitsStage
from wardgate.store.audit import AuditEntry
from wardgate.store.usage import UsageEvent

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from wardgate.mcp.surface import MCPSurface


def open_mcp(
    settings: Settings,
    runtime: Runtime,
    audit: BatchWriter[AuditEntry],
    ledger: BatchWriter[UsageEvent],
    limits: LimitsStage,
    cost_of: CostOf,
    redis: aioredis.Redis | None,
    prefix: str,
    guards: Stage | None = None,
    engine: AsyncEngine | None = None,
    telemetry: Stage | None = None,
) -> MCPSurface:
    """The MCP gateway: one supervised session per upstream, one SDK server per virtual server, and the governance
    pipeline of every tools/call, resources/read and prompts/get: audit (its after hook last) → accounting (a
    ledger row, refusals included) → tool policy → guards (when configured: secrets in arguments, injection in
    results; guards/mcp.py) → limits (per-tool rate limits, price_usd against budgets)."""
    try:
        import mcp  # noqa: F401  (the SDK: the `mcp` extra)
    except ImportError as exc:
        raise RuntimeError(
            "`mcp:` is configured but the MCP SDK is not installed: pip install 'wardgate[mcp]'"
        ) from exc
    from wardgate.config.mcp import MCPConfig, MCPServerConfig, VirtualServerConfig
    from wardgate.mcp.audit import MCPAuditStage
    from wardgate.mcp.backchannel import Backchannel
    from wardgate.mcp.listing import Cursors
    from wardgate.mcp.mounts import Mounts
    from wardgate.mcp.policy import ToolPolicies, ToolPolicyStage
    from wardgate.mcp.sessions import SessionSigner
    from wardgate.mcp.sse_relay import SSERelay
    from wardgate.mcp.streams import MemoryStreams, RedisStreams, StreamStore
    from wardgate.mcp.surface import MCPSurface
    from wardgate.mcp.upstream import Upstream
    from wardgate.mcp.virtual import VirtualServer
    from wardgate.mcp.worker_peers import WorkerPeers

    config = settings.mcp
    assert config is not None and settings.master_key is not None, "validated at load"
    policies = ToolPolicies(settings.tool_policies)
    stages: list[Stage] = [
        *([telemetry] if telemetry is not None else []),  # first, as on the LLM path: its after hook sees the outcome
        MCPAuditStage(audit, config.audit_arguments),
        AccountingStage(ledger, cost_of),
        ToolPolicyStage(policies),
        *([guards] if guards is not None else []),
        limits,
    ]
    master_key = settings.master_key.get_secret_value()

    cursors = Cursors(master_key)
    # upstreams' requests relayed to the client, cancellations: any replica with Redis, else this host's workers
    peers = WorkerPeers.from_env(config.max_message_bytes) if redis is None else None
    backchannel = Backchannel(redis, prefix, peers)

    def build_upstream(name: str, server: MCPServerConfig) -> Upstream:
        return Upstream(name, server, redis, prefix, master_key)

    def build_virtual(
        name: str, vs: VirtualServerConfig, upstreams: dict[str, Upstream], mcp: MCPConfig
    ) -> VirtualServer:
        return VirtualServer(name, vs, mcp, upstreams, policies, stages, cursors, backchannel)

    # an upstream replaced or removed (the admin API, a config reload) is closed after its calls end
    mounts = Mounts(build_upstream, build_virtual, config, config.max_message_bytes)
    sessions = SessionSigner(master_key, config.session_ttl_s, redis, prefix)
    relay = SSERelay(redis, prefix, config.session_ttl_s)
    streams: StreamStore
    if redis is not None and settings.redis is not None:  # a follower blocks for less than a command may take
        block_s = min(1.0, settings.redis.socket_timeout_s / 2)
        streams = RedisStreams(redis, prefix, config.stream_retention_s, config.stream_max_events, block_s)
    else:
        streams = MemoryStreams(config.stream_retention_s, config.stream_max_events)
    surface = MCPSurface(
        mounts,
        config,
        runtime.authenticate,
        sessions,
        config.max_message_bytes,
        runtime.read_client_cert,
        relay,
        streams,
        config.stream_retention_s,
        backchannel,
    )
    surface.policies = policies  # a config reload replaces the file's (assemble.reassemble)
    if engine is not None:  # tool policies, servers and virtual servers made in the admin API: re-read every
        # limits.refresh_s and when announced
        from wardgate.config.secrets import SecretBox
        from wardgate.store.mcp_servers import MCPServerStore
        from wardgate.store.mcp_tool_policies import ToolPolicyStore

        surface.manage_policies(policies, ToolPolicyStore(engine).list, settings.limits.refresh_s)
        surface.manage_servers(MCPServerStore(engine).entries, SecretBox.of(settings))
    return surface
