from django.conf import settings
from django.db import models


class NocaseName(models.Model):
    """A login name stored under SQLite's case-insensitive NOCASE collation.

    It imitates MySQL's default collation, under which ``exact`` matches ``Alice`` for
    ``alice``.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="nocase_names"
    )
    name = models.CharField(max_length=100, db_collation="NOCASE")
