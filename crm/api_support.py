"""Shared REST API plumbing. Pagination lives in ``core.pagination``; the one exception handler
is ``core.errors``. Kept so the settings' old dotted path keeps working."""

from core.pagination import Pagination

__all__ = ["Pagination"]
