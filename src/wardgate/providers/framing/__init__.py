"""Stream framings shared by several wire formats: SSE (``sse``) and AWS event-stream (``eventstream``, botocore's
decoder). Decoders are fed the reads of a body and return the events completed so far; ``providers.streaming`` runs
them."""


class FramingError(ValueError):
    """The bytes are not valid in the stream's framing (a bad length or checksum): the stream cannot go on."""
