"""Django settings that log users in with RemoteUserMiddleware alone, from a header name that
no WSGI server uses as a request.META key. Audited together with config/nginx/mtls-app.conf.
"""

MIDDLEWARE = [
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.PersistentRemoteUserMiddleware",  # expect: django-remote-user-without-revcheck
]

REMOTE_USER_HEADER = "X-Client-Identity"  # expect: django-meta-key-never-set
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
