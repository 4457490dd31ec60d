"""The middleware and backend in auth_request mode: nginx forwards X-Client-Identity."""

from django.contrib.auth import SESSION_KEY, authenticate, get_user_model
from django.contrib.auth.signals import user_logged_out
from django.core.exceptions import ImproperlyConfigured
from django.test import TestCase, override_settings

from example_site.models import ClientCertificate
from tests.models import NocaseName

# The request.META key under which WSGI servers store X-Client-Identity.
IDENTITY = "HTTP_X_CLIENT_IDENTITY"

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
REVCHECK_BACKEND = "revcheck_django.backends.RevcheckBackend"

FINGERPRINT_1 = "a" * 64
FINGERPRINT_2 = "b" * 64


class IdentityTestCase(TestCase):
    @classmethod
    def setUpTestData(cls):
        user_model = get_user_model()
        cls.alice = user_model.objects.create_user("alice", email="shared@example.test")
        cls.bob = user_model.objects.create_user("bob", email="shared@example.test")
        cls.carol = user_model.objects.create_user("carol", password="carol-password")

    def get(self, identity=None):
        meta = {} if identity is None else {IDENTITY: identity}
        return self.client.get("/", **meta)

    def assert_denied(self, identity, reason):
        with self.assertLogs("revcheck_django", "WARNING") as logs:
            response = self.get(identity)
        self.assertEqual(response.status_code, 403, f"identity {identity!r}")
        self.assertIn(f"reason={reason} ", "\n".join(logs.output), f"identity {identity!r}")
        self.assertNotIn(SESSION_KEY, self.client.session, f"identity {identity!r}")

    def session_user_id(self):
        return self.client.session.get(SESSION_KEY)


class MappingTests(IdentityTestCase):
    def test_exact_username_logs_in(self):
        response = self.get("alice")

        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, b"alice")
        self.assertEqual(self.session_user_id(), str(self.alice.pk))

    def test_near_identities_rejected(self):
        # Case variants, prefixes, suffixes, SQL LIKE wildcards and certificate subjects that
        # contain the username all differ from "alice" and must not log anyone in.
        for identity in [
            "Alice",
            "ALICE",
            "alic",
            "alice2",
            "xalice",
            "alice ",
            "al_ce",
            "ali%",
            "CN=alice",
        ]:
            with self.subTest(identity=identity):
                self.assert_denied(identity, "identity_unmapped")

    def test_identity_with_comma_rejected(self):
        # "alice,bob" is how servers join a repeated header, and RFC 4514 subjects contain commas.
        for identity in ["alice,bob", "CN=alice,O=revcheck demo"]:
            with self.subTest(identity=identity):
                self.assert_denied(identity, "identity_invalid")

    def test_identity_with_control_character_rejected(self):
        self.assert_denied("alice\x00", "identity_invalid")

    def test_unknown_identity_rejected(self):
        users_before = get_user_model().objects.count()

        self.assert_denied("mallory", "identity_unmapped")

        self.assertEqual(get_user_model().objects.count(), users_before)

    def test_inactive_user_rejected(self):
        self.alice.is_active = False
        self.alice.save()

        self.assert_denied("alice", "identity_unmapped")

    @override_settings(REVCHECK_CREATE_UNKNOWN_USERS=True)
    def test_unknown_identity_creates_user_when_enabled(self):
        response = self.get("dave")

        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, b"dave")
        dave = get_user_model().objects.get(username="dave")
        self.assertFalse(dave.has_usable_password())
        self.assertEqual(self.session_user_id(), str(dave.pk))

    @override_settings(REVCHECK_USER_FIELD="client_certificates__fingerprint")
    def test_fingerprint_through_reverse_relation(self):
        # alice has two certificates, as during a renewal; either logs her in.
        ClientCertificate.objects.create(user=self.alice, fingerprint=FINGERPRINT_1)
        ClientCertificate.objects.create(user=self.alice, fingerprint=FINGERPRINT_2)

        for fingerprint in [FINGERPRINT_1, FINGERPRINT_2]:
            with self.subTest(fingerprint=fingerprint):
                response = self.get(fingerprint)
                self.assertEqual(response.status_code, 200)
                self.assertEqual(response.content, b"alice")

        for identity in [FINGERPRINT_1.upper(), FINGERPRINT_1[:63], FINGERPRINT_1 + "a", "alice"]:
            with self.subTest(identity=identity):
                self.assert_denied(identity, "identity_unmapped")

    @override_settings(REVCHECK_USER_FIELD="email")
    def test_identity_of_several_users_rejected(self):
        with self.assertLogs("revcheck_django", "WARNING") as logs:
            response = self.get("shared@example.test")

        self.assertEqual(response.status_code, 403)
        self.assertIn("matches several users", "\n".join(logs.output))

    @override_settings(REVCHECK_USER_FIELD="nocase_names__name")
    def test_case_insensitive_collation_still_exact(self):
        NocaseName.objects.create(user=self.alice, name="alice")
        # The database itself matches ALICE, which is why the backend compares again.
        self.assertTrue(NocaseName.objects.filter(name__exact="ALICE").exists())

        self.assert_denied("ALICE", "identity_unmapped")
        response = self.get("alice")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, b"alice")

    @override_settings(AUTHENTICATION_BACKENDS=[REVCHECK_BACKEND])
    def test_password_login_never_reaches_backend(self):
        self.assertIsNone(authenticate(username="carol", password="carol-password"))


class RequiredIdentityTests(IdentityTestCase):
    def test_missing_header_rejected(self):
        self.assert_denied(None, "identity_missing")

    def test_empty_header_rejected(self):
        self.assert_denied("", "identity_missing")

    @override_settings(REVCHECK_IDENTITY_REQUIRED=False)
    def test_missing_header_anonymous_when_optional(self):
        response = self.get(None)

        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, b"")


class HeaderSettingTests(IdentityTestCase):
    def test_header_setting_with_underscores_rejected(self):
        for name in ["X_Client_Identity", "X-Client_Identity", "HTTP_X_CLIENT_IDENTITY"]:
            with self.subTest(name=name), override_settings(REVCHECK_IDENTITY_HEADER=name):
                with self.assertRaisesMessage(ImproperlyConfigured, "contains underscores"):
                    self.get("alice")

    def test_invalid_header_setting_rejected(self):
        for name in ["X-Client Identity", "X-Client-Identity:", "", "-X"]:
            with self.subTest(name=name), override_settings(REVCHECK_IDENTITY_HEADER=name):
                with self.assertRaisesMessage(ImproperlyConfigured, "is not a valid header name"):
                    self.get("alice")


class UserFieldSettingTests(IdentityTestCase):
    def test_lookups_rejected(self):
        for field in [
            "username__iexact",
            "username__icontains",
            "username__startswith",
            "email__regex",
        ]:
            with self.subTest(field=field), override_settings(REVCHECK_USER_FIELD=field):
                with self.assertRaisesMessage(ImproperlyConfigured, "Lookups such as __iexact"):
                    self.get("alice")

    def test_relation_without_field_rejected(self):
        with override_settings(REVCHECK_USER_FIELD="client_certificates"):
            with self.assertRaisesMessage(ImproperlyConfigured, "ends at the relation"):
                self.get("alice")

    def test_unknown_field_rejected(self):
        with override_settings(REVCHECK_USER_FIELD="fingerprint"):
            with self.assertRaisesMessage(ImproperlyConfigured, "has no field 'fingerprint'"):
                self.get("alice")

    def test_creating_users_needs_username_field(self):
        settings = {
            "REVCHECK_USER_FIELD": "client_certificates__fingerprint",
            "REVCHECK_CREATE_UNKNOWN_USERS": True,
        }
        with override_settings(**settings):
            with self.assertRaisesMessage(
                ImproperlyConfigured, "not the user model's USERNAME_FIELD"
            ):
                self.get(FINGERPRINT_1)


class SessionTests(IdentityTestCase):
    def test_same_identity_keeps_session(self):
        self.get("alice")
        session_key = self.client.session.session_key

        response = self.get("alice")

        self.assertEqual(response.content, b"alice")
        self.assertEqual(self.client.session.session_key, session_key)

    def test_changed_identity_replaces_user(self):
        self.get("alice")
        alice_session_key = self.client.session.session_key
        logged_out = []

        def record_logout(sender, user, **kwargs):
            logged_out.append(user)

        user_logged_out.connect(record_logout)
        self.addCleanup(user_logged_out.disconnect, record_logout)

        response = self.get("bob")

        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, b"bob")
        self.assertEqual(self.session_user_id(), str(self.bob.pk))
        self.assertNotEqual(self.client.session.session_key, alice_session_key)
        # Receivers of user_logged_out (audit logs, for example) learn that alice left.
        self.assertEqual(logged_out, [self.alice])

    def test_missing_header_ends_session(self):
        self.get("alice")

        self.assert_denied(None, "identity_missing")

    @override_settings(REVCHECK_IDENTITY_REQUIRED=False)
    def test_missing_header_ends_session_when_optional(self):
        self.get("alice")

        response = self.get(None)

        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, b"")
        self.assertNotIn(SESSION_KEY, self.client.session)

    def test_rejected_identity_ends_session(self):
        self.get("alice")

        self.assert_denied("mallory", "identity_unmapped")

    @override_settings(
        AUTHENTICATION_BACKENDS=[REVCHECK_BACKEND, MODEL_BACKEND],
        REVCHECK_IDENTITY_REQUIRED=False,
    )
    def test_password_session_kept_without_header(self):
        self.client.force_login(self.carol, backend=MODEL_BACKEND)

        response = self.get(None)

        self.assertEqual(response.content, b"carol")

    @override_settings(AUTHENTICATION_BACKENDS=[REVCHECK_BACKEND, MODEL_BACKEND])
    def test_password_session_replaced_by_identity(self):
        self.client.force_login(self.carol, backend=MODEL_BACKEND)

        response = self.get("alice")

        self.assertEqual(response.content, b"alice")
        self.assertEqual(self.session_user_id(), str(self.alice.pk))

    @override_settings(AUTHENTICATION_BACKENDS=[REVCHECK_BACKEND, MODEL_BACKEND])
    def test_password_session_with_unknown_identity_rejected(self):
        self.client.force_login(self.carol, backend=MODEL_BACKEND)

        with self.assertLogs("revcheck_django", "WARNING"):
            response = self.get("mallory")

        self.assertEqual(response.status_code, 403)


class AsyncClientTests(IdentityTestCase):
    """The middleware's async path, which the ASGI handler takes."""

    async def test_exact_username_logs_in(self):
        response = await self.async_client.get("/", headers={"X-Client-Identity": "alice"})

        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, b"alice")

    async def test_changed_identity_replaces_user(self):
        await self.async_client.get("/", headers={"X-Client-Identity": "alice"})
        logged_out = []

        def record_logout(sender, user, **kwargs):
            logged_out.append(user)

        user_logged_out.connect(record_logout)
        self.addCleanup(user_logged_out.disconnect, record_logout)

        response = await self.async_client.get("/", headers={"X-Client-Identity": "bob"})

        self.assertEqual(response.content, b"bob")
        session = await self.async_client.asession()
        self.assertEqual(await session.aget(SESSION_KEY), str(self.bob.pk))
        self.assertEqual(logged_out, [self.alice])

    @override_settings(ROOT_URLCONF="tests.urls")
    async def test_async_view_sees_new_user(self):
        await self.async_client.get("/async/", headers={"X-Client-Identity": "alice"})

        response = await self.async_client.get("/async/", headers={"X-Client-Identity": "bob"})

        self.assertEqual(response.content, b"bob")

    @override_settings(ROOT_URLCONF="tests.urls", REVCHECK_IDENTITY_REQUIRED=False)
    async def test_async_view_sees_logout(self):
        await self.async_client.get("/async/", headers={"X-Client-Identity": "alice"})

        response = await self.async_client.get("/async/")

        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, b"")

    async def test_unknown_identity_rejected(self):
        with self.assertLogs("revcheck_django", "WARNING") as logs:
            response = await self.async_client.get("/", headers={"X-Client-Identity": "mallory"})

        self.assertEqual(response.status_code, 403)
        self.assertIn("reason=identity_unmapped ", "\n".join(logs.output))

    async def test_missing_header_rejected(self):
        with self.assertLogs("revcheck_django", "WARNING") as logs:
            response = await self.async_client.get("/")

        self.assertEqual(response.status_code, 403)
        self.assertIn("reason=identity_missing ", "\n".join(logs.output))
