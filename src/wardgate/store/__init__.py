"""Durable state: SQLAlchemy Core tables with Alembic migrations; SQLite (WAL) by default, PostgreSQL to scale."""
