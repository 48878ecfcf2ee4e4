"""NetScript for Python: the small public facade.

The streams API (``define_stream_schema``, ``create_durable_stream``) and ``hookimpl``
are re-exported here as they land.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
