"""The HTTP server around the ASGI app: uvicorn with a guarded httptools protocol (connection cap, header deadline
and limits), the access log, logging set-up and the start banner. ``wardgate serve`` execs ``python -m
wardgate.server`` once the config is valid and the store migrated."""
