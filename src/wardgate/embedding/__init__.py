"""Offline text embedding shared by stages (the semantic cache, the topics guard): stage-free, so any stage may
import it."""
