from rest_framework.permissions import BasePermission


class IsStaff(BasePermission):
    """Staff of Confiotes (``is_staff``): the default for every back-office endpoint."""

    message = "Only Confiotes staff may use this endpoint."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff)
