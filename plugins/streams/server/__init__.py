"""The Durable Streams protocol server of the streams plugin."""

from .app import create_app
from .config import ServerSettings
from .memory import MemoryStore
from .service import StreamService
from .store import StreamStore

__all__ = ["MemoryStore", "ServerSettings", "StreamService", "StreamStore", "create_app"]
