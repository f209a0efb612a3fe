"""The public site: landing page, "create your gym" signup and "find my gym"."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from apps.accounts.services import handoff_token_create

from .errors import GymError
from .forms import FindGymForm, GymSignupForm
from .selectors import gym_base_url, gym_search
from .services import gym_signup


def landing_view(request: HttpRequest) -> HttpResponse:
    """`/` on the public host."""
    return render(request, "public/landing.html")


@require_http_methods(["GET", "POST"])
def gym_signup_view(request: HttpRequest) -> HttpResponse:
    """`/signup/`: create a gym and its owner, then continue on the gym's own host,
    already logged in (a one-time handoff link, since sessions are per host)."""
    form = GymSignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            gym, owner = gym_signup(
                name=data["name"],
                slug=data["slug"],
                owner_email=data["owner_email"],
                owner_password=data["password"],
                timezone=data["timezone"],
                currency=data["currency"],
            )
        except GymError as exc:
            form.add_gym_error(exc)
        else:
            token = handoff_token_create(user=owner, schema_name=gym.schema_name)
            return redirect(f"{gym_base_url(gym=gym, request=request)}/accounts/welcome/?{urlencode({'t': token})}")
    return render(request, "public/signup.html", {"form": form}, status=400 if form.errors else 200)


def find_gym_view(request: HttpRequest) -> HttpResponse:
    """`/find/`: search open gyms by name; results link to each gym's login page.
    With htmx, only the results list is re-rendered as the person types."""
    form = FindGymForm(request.GET or None)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    gyms = [(gym, gym_base_url(gym=gym, request=request)) for gym in gym_search(query=query, limit=30)] if query else []
    template = "public/find_gym.html#results" if request.htmx else "public/find_gym.html"  # type: ignore[attr-defined]
    return render(request, template, {"form": form, "gyms": gyms, "query": query})
