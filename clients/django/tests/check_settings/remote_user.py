from django.contrib.auth.middleware import RemoteUserMiddleware


class VerifyHeaderRemoteUserMiddleware(RemoteUserMiddleware):
    """The mistake that revcheck.E001 catches: the username read from nginx's verification
    result, which is SUCCESS for every verified client."""

    header = "HTTP_X_SSL_CLIENT_VERIFY"
