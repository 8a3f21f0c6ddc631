"""Who may change what. Agents work contacts, deals and the inbox; managers and admins also
change plays, the ROI assumptions and other program settings; admins manage users."""

from functools import wraps

from django.core.exceptions import PermissionDenied
from rest_framework import permissions

from crm.models import User

MANAGER_ROLES = (User.Role.MANAGER, User.Role.ADMIN)
PROGRAM_CHANGE_DENIED = "Only managers and admins can change this."


def can_manage_program(user) -> bool:
    """Plays, governance and ROI assumptions: managers, admins and superusers."""
    return bool(getattr(user, "is_superuser", False) or getattr(user, "role", "") in MANAGER_ROLES)


def can_manage_users(user) -> bool:
    return bool(getattr(user, "is_superuser", False) or getattr(user, "role", "") == User.Role.ADMIN)


def manager_required(view):
    """For HTML views that change the program: 403 for agents."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not can_manage_program(request.user):
            raise PermissionDenied(PROGRAM_CHANGE_DENIED)
        return view(request, *args, **kwargs)

    return wrapped


class ManagerOrReadOnly(permissions.BasePermission):
    """API: everyone signed in may read (and run what a view declares ``safe_actions``, e.g. a dry
    run that writes nothing); only managers and admins may change."""

    message = PROGRAM_CHANGE_DENIED

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return True
        if getattr(view, "action", None) in getattr(view, "safe_actions", ()):
            return True
        return can_manage_program(request.user)


class ProgramAdminMixin:
    """Django admin: agents with staff access may look, not change."""

    def has_add_permission(self, request, *args):
        return super().has_add_permission(request, *args) and can_manage_program(request.user)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and can_manage_program(request.user)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and can_manage_program(request.user)
