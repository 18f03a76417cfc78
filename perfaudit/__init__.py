"""perfaudit: a performance auditor for FastAPI and ASGI apps."""

__version__ = "0.1.0"
