"""facedb: face verification and attendance on PostgreSQL + pgvector."""

__version__ = "0.1.0"
