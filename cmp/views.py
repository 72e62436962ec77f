from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


def home(request: HttpRequest) -> HttpResponse:
    """The front door is the catalogue."""
    return redirect("marketplace:catalogue")
