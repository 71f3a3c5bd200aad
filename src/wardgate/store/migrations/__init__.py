"""Alembic migrations of the store. ``HEAD`` names the newest one; a test keeps it equal to Alembic's own head, so a
worker that finds the database already at HEAD skips loading Alembic (≈0.3 s and ≈10 MiB a worker)."""

HEAD = "0018_i18_mcp_servers"
