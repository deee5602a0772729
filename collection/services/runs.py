"""The run services, before they were split into ``lifecycle``, ``dispatch`` and ``worker``."""

# re-exported for collection.engine until it imports lifecycle directly (issue 15)
from collection.services.lifecycle import InvalidTransition, run_transition

__all__ = ["InvalidTransition", "run_transition"]
