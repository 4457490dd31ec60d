"""Django settings with one identity mistake of each kind that `revcheck audit` reports.

Every line that the audit must report ends with "expect:" and the finding ids.
"""

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "revcheck_django.middleware.RevcheckMiddleware",
    "django.contrib.auth.middleware.RemoteUserMiddleware",  # expect: django-remote-user-order
]

REMOTE_USER_HEADER = "HTTP_X_SSL_CLIENT_VERIFY"  # expect: django-identity-verify-header
REVCHECK_IDENTITY_HEADER = "HTTP_X_CLIENT-IDENTITY"  # expect: django-meta-key-never-set
REVCHECK_CERTIFICATE_HEADER = "X_SSL_Client_Cert"  # expect: django-underscore-header
# A header that bad-site.conf does not set, so a client can send its own verification result.
REVCHECK_VERIFY_HEADER = "X-Client-Cert-Status"  # expect: django-untrusted-proxy-header

# bad-site.conf sets neither header in every proxied location.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # expect: django-untrusted-proxy-header
USE_X_FORWARDED_HOST = True  # expect: django-untrusted-proxy-header
