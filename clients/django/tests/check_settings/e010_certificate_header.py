"""Direct-lookup mode reads the certificate from a header that the nginx example does not
set, so a client can send someone else's certificate."""

from tests.check_settings.direct_mode import *  # noqa: F403

REVCHECK_CERTIFICATE_HEADER = "X-Client-Cert"
