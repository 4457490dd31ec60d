from django.http import HttpResponse


def whoami(request):
    """Return the username of the request's user, empty for an anonymous user."""
    return HttpResponse(request.user.get_username(), content_type="text/plain; charset=utf-8")
