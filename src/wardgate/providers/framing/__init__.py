"""Stream framings shared by several wire formats (SSE; AWS event-stream lives beside it)."""
