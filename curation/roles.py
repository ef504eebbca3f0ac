"""Roles: reviewers review, PMs see queues and dashboards, admins manage languages, jobs
and users. A role is a Django group; an admin is also a superuser or staff member."""
from __future__ import annotations

from functools import wraps
from typing import Callable

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

REVIEWER, PM, ADMIN = "reviewer", "pm", "admin"
ROLES = (REVIEWER, PM, ADMIN)
# Who may do what a role may do: an admin can do everything a PM or reviewer can.
RANK = {REVIEWER: 1, PM: 2, ADMIN: 3}


def role_of(user) -> str | None:
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return ADMIN
    names = {g.name for g in user.groups.all()}
    for role in reversed(ROLES):
        if role in names:
            return role
    return None


def has_role(user, role: str) -> bool:
    """PMs see what reviewers see but do not review; see `can_review`."""
    mine = role_of(user)
    return mine is not None and RANK[mine] >= RANK[role]


def can_review(user) -> bool:
    return role_of(user) in (REVIEWER, ADMIN)


def role_required(role: str) -> Callable:
    """Login first (anonymous → login page), then the role (wrong role → 403)."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not has_role(request.user, role):
                raise PermissionDenied(f"This page needs the {role} role.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def role_context(request) -> dict:
    user = getattr(request, "user", None)
    role = role_of(user) if user is not None else None
    return {"role": role, "is_admin": role == ADMIN, "is_pm": role in (PM, ADMIN), "can_review": role in (REVIEWER, ADMIN)}
