from cmp.errors import ApplicationError, ConflictError

__all__ = ["ApplicationError", "ConflictError"]
