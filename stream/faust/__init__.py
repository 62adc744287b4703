"""Faust integration: the only package that imports faust (faust-streaming).

``LLMStage`` runs docstream's pipeline inside a Faust agent. faust-streaming is an
optional dependency: ``pip install 'docstream-kafka[faust]'``.
"""

from stream.faust.sink import FaustSink
from stream.faust.stage import LLMStage

__all__ = ["FaustSink", "LLMStage"]
