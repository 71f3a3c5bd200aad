"""The semantic cache: answer a request with the stored answer of an earlier one that means the same.

``embedders.py`` turns the compared text into a unit vector (the offline MiniLM model shipped by a PyPI package, or
a configured embeddings deployment); ``index.py`` finds the most similar earlier request in the same bucket (same
tenant, route, generation and guard hash: cache/keys.py), in process or mirrored from Redis.
"""
