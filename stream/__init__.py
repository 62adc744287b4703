"""docstream: an asynchronous Kafka stream processor for Claude workloads."""

__version__ = "0.1.0"
__all__ = ["__version__"]
