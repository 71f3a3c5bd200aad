"""Hot deploy: config changes applied to running workers without a restart (docs/hot-deploy.md)."""
