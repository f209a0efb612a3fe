"""allauth adapter: who may sign up where."""

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest


class AccountAdapter(DefaultAccountAdapter):
    """Turns off allauth's open signup.

    Gym owners sign up through the gym signup on the public site
    (`apps.tenants.views.GymSignupView`), and staff are added by their gym, so the
    plain "create an account" page would only make users who belong nowhere.
    """

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False
