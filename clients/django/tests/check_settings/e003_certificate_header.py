"""The certificate header is named in its request.META form."""

from example_site.settings import *  # noqa: F403

REVCHECK_CERTIFICATE_HEADER = "HTTP_X_SSL_CLIENT_CERT"
