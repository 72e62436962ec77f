"""Marketplace errors; all are ApplicationErrors so the API answers them in the error envelope."""

from cmp.errors import ApplicationError, ConflictError, ForbiddenError, NotFoundError

__all__ = ["ApplicationError", "ConflictError", "ForbiddenError", "InvalidTransition", "NotFoundError"]


class InvalidTransition(ConflictError):
    default_code = "invalid_transition"

    def __init__(self, *, entity: str, from_state: str, to_state: str):
        article = "An" if entity[:1].lower() in "aeiou" else "A"
        super().__init__(f"{article} {entity} in state '{from_state}' cannot move to '{to_state}'.")
        self.from_state = from_state
        self.to_state = to_state
