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
