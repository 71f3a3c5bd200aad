"""The web console at /ui: static assets shipped in this package (built by `make ui` from ui/src), served by every
gateway. It calls only the public admin API; nothing here reads the store or the worker."""
