"""The durable file-backed stream store."""

from ..errors import StorageFailure
from .committer import FsyncMode
from .store import FileStore

__all__ = ["FileStore", "FsyncMode", "StorageFailure"]
