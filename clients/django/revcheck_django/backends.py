"""Authentication backend that maps a certificate identity to exactly one user."""

import logging

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend

from .conf import load_settings

logger = logging.getLogger("revcheck_django")


class RevcheckBackend(ModelBackend):
    """Backend that maps an identity to the one user whose ``REVCHECK_USER_FIELD`` equals it.

    The database query uses ``exact``, and the value it returns is compared again in Python,
    because a case-insensitive collation (MySQL's default, or SQLite ``NOCASE``) or a
    ``PAD SPACE`` collation makes ``exact`` match ``Alice`` or ``alice `` for ``alice``.
    An identity that matches no user is rejected unless ``REVCHECK_CREATE_UNKNOWN_USERS`` is
    True, and one that matches several users is always rejected.

    Permissions come from ``ModelBackend``. Password logins never reach this backend, because
    ``authenticate()`` calls it only with a ``revcheck_identity`` argument.
    """

    def __init__(self):
        super().__init__()
        self.revcheck_settings = load_settings()

    def authenticate(self, request, revcheck_identity=None):
        if not revcheck_identity:
            return None
        field = self.revcheck_settings.user_field
        user_ids = self.matching_user_ids(revcheck_identity)
        if len(user_ids) > 1:
            logger.warning(
                "identity matches several users, so it is rejected: identity=%r field=%s "
                "user_ids=%s",
                revcheck_identity,
                field,
                sorted(user_ids),
            )
            return None
        if user_ids:
            user = get_user_model()._default_manager.filter(pk=user_ids.pop()).first()
        elif self.revcheck_settings.create_unknown_users:
            user = self.create_user_for_identity(revcheck_identity)
        else:
            logger.warning(
                "identity matches no user: identity=%r field=%s", revcheck_identity, field
            )
            return None

        if user is None:
            return None
        if not self.user_can_authenticate(user):
            logger.warning(
                "identity maps to an inactive user: identity=%r user_id=%s",
                revcheck_identity,
                user.pk,
            )
            return None
        return user

    async def aauthenticate(self, request, revcheck_identity=None):
        # ModelBackend.aauthenticate takes a username and password, so it must be replaced.
        return await sync_to_async(self.authenticate)(request, revcheck_identity)

    def matching_user_ids(self, identity):
        """Return the set of ids of the users whose mapped field equals ``identity``."""
        field = self.revcheck_settings.user_field
        # `values_list` reuses the join of the `filter`, so for a to-many path (a user with
        # several certificates) each row contains the related value that matched.
        rows = (
            get_user_model()
            ._default_manager.filter(**{f"{field}__exact": identity})
            .values_list("pk", field)
            .distinct()
        )
        return {user_id for user_id, value in rows if _is_exact_match(value, identity)}

    def create_user_for_identity(self, identity):
        """Create, or fetch after a concurrent creation, the user named ``identity``.

        The settings check allows this only when ``REVCHECK_USER_FIELD`` is the user model's
        ``USERNAME_FIELD``. Override it to create related rows such as a profile.
        """
        user_model = get_user_model()
        user, created = user_model._default_manager.get_or_create(
            **{user_model.USERNAME_FIELD: identity}
        )
        if not _is_exact_match(user.get_username(), identity):
            # get_or_create found a user that only a case-insensitive collation matches.
            logger.warning(
                "identity differs from the existing username only in case or padding, so "
                "no user is created: identity=%r username=%r",
                identity,
                user.get_username(),
            )
            return None
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
            logger.info(
                "created a user for a new identity: identity=%r user_id=%s", identity, user.pk
            )
        return user


def _is_exact_match(stored_value, identity):
    if isinstance(stored_value, str):
        return stored_value == identity
    # A non-text field such as a UUIDField: compare its text form.
    return stored_value is not None and str(stored_value) == identity
