"""The schema. Changed only through a new Alembic migration (store/migrations/versions/), never edited in place.

Money is stored as integer nano-dollars (1e-9 USD): exact on every backend (SQLite has no decimal type) and wide
enough (BigInteger) for 9 billion dollars. Times are timezone-aware UTC.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    true,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

projects = Table(
    "projects",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("cost_center", String(200)),
    Column("allowed_models", JSON),  # null: every model
    Column("metadata", JSON, nullable=False, default=dict),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

teams = Table(
    "teams",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("project_id", "name", name="uq_teams_project_name"),
)

users = Table(
    "users",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# role of a user at one tier: scope_kind "system" (scope_id ""), "project" or "team"
memberships = Table(
    "memberships",
    metadata,
    Column("user_id", String(64), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("scope_kind", String(16), primary_key=True),
    Column("scope_id", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
)

agents = Table(
    "agents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("project_id", "name", name="uq_agents_project_name"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("prefix", String(32), nullable=False),  # shown to identify a key; never enough to use it
    Column("hash", String(64), nullable=False, unique=True),  # sha256 hex of the whole key
    Column("name", String(200)),
    Column("project_id", String(64), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("team_id", String(64), ForeignKey("teams.id", ondelete="CASCADE")),
    Column("user_id", String(64), ForeignKey("users.id", ondelete="CASCADE")),
    Column("agent_id", String(64), ForeignKey("agents.id", ondelete="CASCADE")),
    Column("models", JSON),  # allow-list; null: the project's
    Column("tags", JSON, nullable=False, default=dict),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Column("rotated_from", String(64)),
    Index("ix_api_keys_project", "project_id"),
)

usage_events = Table(
    "usage_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("request_id", String(128), nullable=False),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("principal_kind", String(16), nullable=False),
    Column("principal_id", String(128), nullable=False),
    Column("project_id", String(64)),
    Column("team_id", String(64)),
    Column("user_id", String(64)),
    Column("key_id", String(64)),
    Column("surface", String(16), nullable=False),
    Column("operation", String(16), nullable=False),
    Column("model", String(200), nullable=False),  # as requested
    Column("deployment", String(300)),
    Column("provider", String(100)),
    Column("input_tokens", BigInteger, nullable=False, default=0),
    Column("output_tokens", BigInteger, nullable=False, default=0),
    Column("cached_tokens", BigInteger, nullable=False, default=0),
    Column("cache_write_tokens", BigInteger, nullable=False, default=0),
    Column("reasoning_tokens", BigInteger, nullable=False, default=0),
    Column("cost_nanousd", BigInteger, nullable=False, default=0),
    Column("latency_ms", Integer),
    Column("ttft_ms", Integer),
    Column("status", Integer, nullable=False),
    Column("error_code", String(64)),
    Column("cache_hit", Boolean, nullable=False, default=False),
    Column("stream", Boolean, nullable=False, default=False),
    Column("details", JSON),
    # 0003: the client's own request id (never unique: `request_id` is the gateway's), and whether the row is usage
    # to charge (false: refused or failed before anything was consumed; kept for the record, never aggregated)
    Column("client_request_id", String(128)),
    Column("billable", Boolean, nullable=False, default=True, server_default=true()),
    # 0006: the managed prompt a call rendered (docs/prompts.md): its name, version id and canary arm
    Column("prompt_name", String(200)),
    Column("prompt_version", String(64)),
    Column("prompt_variant", String(8)),  # control | canary
    UniqueConstraint("request_id", name="uq_usage_events_request_id"),
    Index("ix_usage_events_ts", "ts"),
    Index("ix_usage_events_project_ts", "project_id", "ts"),
    Index("ix_usage_events_client_request_id", "client_request_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("target", String(300)),
    Column("details", Text, nullable=False),  # canonical JSON, hashed as stored
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Column("v", SmallInteger, nullable=False, server_default="1"),  # row format: 1 plain SHA-256, 2 HMAC (audit.py)
    Column("n", BigInteger),  # format 2: the row's ordinal in the trail
)

# signed heads of the audit chain (audit.py): a truncated tail is a checkpoint the trail no longer reaches
audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("n", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("mac", String(64), nullable=False),
)

# budgets created through the admin API (YAML budgets live in the config); `config` is a BudgetConfig as JSON
budgets = Table(
    "budgets",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("config", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# rate limits created through the admin API (YAML rate limits live in the config); `config` is a RateLimitConfig
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("config", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

config_versions = Table(
    "config_versions",
    metadata,
    Column("version", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("text", Text, nullable=False),  # the YAML as applied; ${VAR} references are resolved by each worker
    Column("sha256", String(64), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

# guards created through the admin API (YAML guards live in the config); `config` is a GuardConfig as JSON
guards = Table(
    "guards",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("config", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# prompt management (docs/prompts.md). A prompt is (project_id, name); project_id "" is a system-wide prompt.
prompts = Table(
    "prompts",
    metadata,
    Column("project_id", String(64), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("description", Text),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# immutable versions: `id` is the SHA-256 of the canonical JSON of (messages, model, params, variables)
prompt_versions = Table(
    "prompt_versions",
    metadata,
    Column("project_id", String(64), primary_key=True),
    Column("prompt", String(200), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("number", Integer, nullable=False),  # 1, 2, … per prompt: the Langfuse-style version number
    Column("spec", JSON, nullable=False),
    Column("author", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("project_id", "prompt", "number", name="uq_prompt_versions_number"),
)

# where each label points; `generation` grows with every move, so replicas see a change in one comparison
prompt_labels = Table(
    "prompt_labels",
    metadata,
    Column("project_id", String(64), primary_key=True),
    Column("prompt", String(200), primary_key=True),
    Column("label", String(100), primary_key=True),
    Column("version", String(64), nullable=False),
    Column("previous", String(64)),  # the version it pointed to before the last move: the default rollback target
    Column("generation", BigInteger, nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# requested label moves; protected labels stay pending until enough distinct non-author approvals
prompt_promotions = Table(
    "prompt_promotions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", String(64), nullable=False),
    Column("prompt", String(200), nullable=False),
    Column("label", String(100), nullable=False),
    Column("version", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("required", SmallInteger, nullable=False),
    Column("status", String(16), nullable=False),  # pending | applied | rejected
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("decided_at", DateTime(timezone=True)),
    Index("ix_prompt_promotions_prompt", "project_id", "prompt"),
)

prompt_approvals = Table(
    "prompt_approvals",
    metadata,
    Column("promotion_id", String(32), ForeignKey("prompt_promotions.id", ondelete="CASCADE"), primary_key=True),
    Column("actor", String(200), primary_key=True),
    Column("decision", String(16), nullable=False),  # approve | reject
    Column("reason", Text),
    Column("at", DateTime(timezone=True), nullable=False),
)

# a label's running canary: `id` names this run (its counters and its rollback)
prompt_canaries = Table(
    "prompt_canaries",
    metadata,
    Column("project_id", String(64), primary_key=True),
    Column("prompt", String(200), primary_key=True),
    Column("label", String(100), primary_key=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("version", String(64), nullable=False),
    Column("percent", Float, nullable=False),
    Column("sticky", String(8), nullable=False),  # user | key
    Column("rollback", JSON, nullable=False),
    Column("started_by", String(200), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
)

# Responses API state (api/responses.py), translated onto chat: one row per stored response. `owner` scopes it (the
# caller's project, else its principal): another project's id is unknown, never readable. `response` is the response
# object as sent, `input_items` this request's input items, `messages` the chat conversation up to and including
# this response (what `previous_response_id` continues from); all three canonical JSON text.
responses = Table(
    "responses",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("response", Text, nullable=False),
    Column("input_items", Text, nullable=False),
    Column("messages", Text, nullable=False),
    # the provider that answered it in its own Responses API and holds it (api/responses.py); None: built by the gateway
    Column("upstream", String(200), nullable=True),
    Index("ix_responses_owner", "owner"),
)

provider_objects = Table(  # files and batches a provider holds, by owner (api/files.py); the id is the provider's
    "provider_objects",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("kind", String(16), nullable=False),  # "file" | "batch" | "video" | "rtc_call"
    Column("owner", String(200), nullable=False),
    Column("provider", String(200), nullable=False),
    Column("model", String(200), nullable=True),  # a batch file's (and its batch's) one public model
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("settled_at", DateTime(timezone=True), nullable=True),  # a batch whose output was metered
    Column("principal", JSON, nullable=True),  # a batch's creator, charged for its output at settlement
    Column("lease_until", DateTime(timezone=True), nullable=True),  # a replica settles it until then
    Index("ix_provider_objects_owner", "owner", "kind"),
    Index("ix_provider_objects_unsettled", "kind", "settled_at"),
)

alert_events = Table(  # one row per (alert, series, window) that fired; the unique key makes replicas fire once
    "alert_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert", String(100), nullable=False),
    Column("series", String(300), nullable=False),
    Column("bucket", BigInteger, nullable=False),
    Column("signal", String(30), nullable=False),
    Column("value", Float, nullable=False),
    Column("baseline", Float, nullable=True),
    Column("score", Float, nullable=True),
    Column("fired_at", DateTime(timezone=True), nullable=False),
    Column("notified", Boolean, nullable=False),
    UniqueConstraint("alert", "series", "bucket", name="uq_alert_events_alert_series_bucket"),
    Index("ix_alert_events_fired_at", "fired_at"),
)

# MCP tool policies created through the admin API (those of the config file live in `tool_policies:`); `config` is a
# ToolPolicyConfig
mcp_tool_policies = Table(
    "mcp_tool_policies",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("config", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# MCP upstream servers and virtual servers created through the admin API (store/mcp_servers.py; those of the config
# file live in `mcp:`); `config` is the entry as the config file would write it, without its secrets; `secrets` is a
# server's headers, env and OAuth client secret, Fernet-encrypted (config/secrets.py)
mcp_servers = Table(
    "mcp_servers",
    metadata,
    Column("kind", String(16), primary_key=True),  # "server" or "virtual_server"
    Column("name", String(100), primary_key=True),
    Column("config", JSON, nullable=False),
    Column("secrets", Text, nullable=True),
    Column("updated_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# models and providers created through the admin API (store/catalog.py); `config` is the entry as the config file
# would write it, without its secrets; `secrets` is a provider's secret fields, Fernet-encrypted (config/secrets.py)
catalog_entries = Table(
    "catalog_entries",
    metadata,
    Column("kind", String(16), primary_key=True),  # "provider" or "model"
    Column("name", String(100), primary_key=True),
    Column("config", JSON, nullable=False),
    Column("secrets", Text, nullable=True),
    Column("updated_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
