from django.apps import AppConfig


class RevcheckConfig(AppConfig):
    name = "revcheck_django"
    verbose_name = "revcheck client certificate login"

    def ready(self):
        # Importing the module registers the system checks.
        from . import checks  # noqa: F401
