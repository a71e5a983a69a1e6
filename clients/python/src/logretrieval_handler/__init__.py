"""Send Python `logging` records to Log Retrieval (`POST /api/v1/logs`)."""

from logretrieval_handler.handler import LogRetrievalHandler

__all__ = ["LogRetrievalHandler"]
__version__ = "0.1.0"
