"""The control plane: the admin REST API under /admin/v1 (Starlette), authorised by the three-tier roles."""

from __future__ import annotations

from wardgate.api.admin.app import build_control_plane

__all__ = ["build_control_plane"]
