"""The shared vocabulary of every stage: Call, Result, Chunk, Usage, errors and the pipeline.

Nothing in core/ imports anything else of Wardgate's.
"""
