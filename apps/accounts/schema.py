"""drf-spectacular: describe GymJWTAuthentication as a bearer JWT."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class GymJWTScheme(SimpleJWTScheme):
    target_class = "apps.accounts.authentication.GymJWTAuthentication"
    name = "gymJWT"
