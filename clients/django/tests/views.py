from django.http import HttpResponse


async def async_whoami(request):
    """Return the username of ``await request.auser()``, as an async view reads it."""
    user = await request.auser()
    return HttpResponse(user.get_username(), content_type="text/plain; charset=utf-8")
