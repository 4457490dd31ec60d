from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models


class ClientCertificate(models.Model):
    """A client certificate that logs its user in, in direct-lookup mode.

    A user may have several, for example the old and the new certificate during a renewal.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="client_certificates",
    )
    fingerprint = models.CharField(
        max_length=64,
        unique=True,
        validators=[
            RegexValidator(r"\A[0-9a-f]{64}\Z", "Enter the SHA-256 of the DER in lowercase hex.")
        ],
        help_text="SHA-256 of the certificate's DER encoding in 64 lowercase hex digits. "
        "`openssl x509 -noout -fingerprint -sha256` prints the same digits in upper case, "
        "with colons.",
    )

    def __str__(self):
        return f"{self.user} {self.fingerprint}"
