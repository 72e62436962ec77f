"""Marketplace errors; all are ApplicationErrors so the API answers them in the error envelope."""

from cmp.errors import ApplicationError, ConflictError, ForbiddenError, NotFoundError

__all__ = ["ApplicationError", "ConflictError", "ForbiddenError", "InvalidTransition", "NotFoundError"]


class InvalidTransition(ConflictError):
    """A state change the state machine does not allow, worded for the person who asked for it."""

    default_code = "invalid_transition"
    ACTIONS = {
        "pending_review": "submitted for review",
        "active": "made live",
        "paused": "paused",
        "archived": "archived",
        "draft": "sent back to draft",
        "executing": "started",
        "done": "completed",
        "erred": "marked as failed",
        "canceled": "cancelled",
        "rejected": "rejected",
        "creating": "set up",
        "ok": "activated",
        "updating": "changed",
        "terminating": "cancelled",
        "terminated": "cancelled",
        "approved": "approved",
    }

    def __init__(self, *, entity: str, from_state: str, to_state: str):
        action = self.ACTIONS.get(to_state, f"moved to {to_state.replace('_', ' ')}")
        super().__init__(f"This {entity} is {from_state.replace('_', ' ')}, so it cannot be {action}.")
        self.from_state = from_state
        self.to_state = to_state
