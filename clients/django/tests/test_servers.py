"""A client's ``X-Client_Identity`` header sent through real servers.

WSGI stores both ``X-Client-Identity`` and ``X-Client_Identity`` under the request.META key
``HTTP_X_CLIENT_IDENTITY``, so the server decides whether a client can pose as a user when the
proxy overwrites only the dashed name. Django's test client cannot show this: it stores
``X_Client_Identity`` under that same key, as gunicorn's ``header_map = "dangerous"`` does. So
these tests send raw requests to Django's runserver handler and to gunicorn, and a raw ASGI
scope to Django's ASGI handler.
"""

import http.client
import tempfile
from pathlib import Path

from asgiref.testing import ApplicationCommunicator
from django.contrib.auth import get_user_model
from django.core.handlers.asgi import ASGIHandler
from django.test import (
    LiveServerTestCase,
    SimpleTestCase,
    TransactionTestCase,
    override_settings,
)

from tests import support


def raw_get(host, port, headers):
    """Send ``GET /`` with exactly ``headers`` (a list of name, value pairs)."""
    connection = http.client.HTTPConnection(host, port, timeout=support.HANG_LIMIT_SECONDS)
    try:
        connection.putrequest("GET", "/", skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class RunserverTests(LiveServerTestCase):
    """Django's development server, whose request handler the live server uses."""

    host = "127.0.0.1"

    def setUp(self):
        get_user_model().objects.create_user("alice")

    def get(self, headers):
        return raw_get(self.host, self.server_thread.port, headers)

    def test_dashed_header_logs_in(self):
        status, body = self.get([("X-Client-Identity", "alice")])

        self.assertEqual(status, 200)
        self.assertEqual(body, b"alice")

    def test_underscore_header_dropped(self):
        with self.assertLogs("revcheck_django", "WARNING") as logs:
            status, _body = self.get([("X-Client_Identity", "alice")])

        self.assertEqual(status, 403)
        self.assertIn("reason=identity_missing ", "\n".join(logs.output))


class GunicornTests(SimpleTestCase):
    """gunicorn serving the example project, with its default header_map ("drop")."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        directory = tempfile.TemporaryDirectory(prefix="revcheck-django-gunicorn-")
        cls.addClassCleanup(directory.cleanup)
        # No PYTHONPATH: gunicorn imports revcheck_django as installed into the environment,
        # as a project's server would.
        environment = support.child_environment(
            EXAMPLE_DATABASE=str(Path(directory.name) / "db.sqlite3"),
            DJANGO_SETTINGS_MODULE="example_site.settings",
        )
        environment.pop("PYTHONPATH", None)
        python = support.python_executable()
        support.run_checked([python, "manage.py", "migrate", "--verbosity", "0"], environment)
        support.run_checked(
            [
                python, "manage.py", "shell", "--command",
                "from django.contrib.auth.models import User; User.objects.create_user('alice')",
            ],
            environment,
        )  # fmt: skip

        cls.gunicorn = support.ChildProcess(
            [
                python, "-m", "gunicorn",
                "--bind", "127.0.0.1:0",
                "--workers", "1",
                # gunicorn 25.1 and newer open a control socket by default, in
                # $XDG_RUNTIME_DIR or ~/.gunicorn, which other gunicorn processes may share.
                "--no-control-socket",
                "example_site.wsgi",
            ],
            support.EXAMPLE_DIR,
            environment,
            directory.name,
        )  # fmt: skip
        cls.addClassCleanup(cls.gunicorn.stop)
        match = cls.gunicorn.wait_for_output(r"Listening at: http://127\.0\.0\.1:(\d+)")
        cls.port = int(match.group(1))
        cls.gunicorn.wait_for_output(r"Booting worker")

    def get(self, headers):
        status, body = raw_get("127.0.0.1", self.port, headers)
        return status, body

    def test_dashed_header_logs_in(self):
        status, body = self.get([("X-Client-Identity", "alice")])

        self.assertEqual(status, 200, self.gunicorn.output())
        self.assertEqual(body, b"alice")

    def test_underscore_header_dropped(self):
        status, _body = self.get([("X-Client_Identity", "alice")])

        self.assertEqual(status, 403, self.gunicorn.output())

    def test_underscore_header_not_joined_to_dashed(self):
        # Without the drop, HTTP_X_CLIENT_IDENTITY would be "alice,mallory".
        status, body = self.get([("X-Client-Identity", "alice"), ("X-Client_Identity", "mallory")])

        self.assertEqual(status, 200, self.gunicorn.output())
        self.assertEqual(body, b"alice")


class AsgiTests(TransactionTestCase):
    """Django's ASGI handler, with the raw header names in the scope.

    The handler runs each request's database queries in a thread of its own, so the user must
    be committed, which TransactionTestCase does.
    """

    def setUp(self):
        get_user_model().objects.create_user("alice")

    async def get(self, headers):
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/",
            "raw_path": b"/",
            "query_string": b"",
            "root_path": "",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000),
            "headers": [(b"host", b"127.0.0.1"), *headers],
        }
        communicator = ApplicationCommunicator(ASGIHandler(), scope)
        await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
        start = await communicator.receive_output(support.HANG_LIMIT_SECONDS)
        body = b""
        while True:
            message = await communicator.receive_output(support.HANG_LIMIT_SECONDS)
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await communicator.wait()
        return start["status"], body

    async def test_dashed_header_logs_in(self):
        status, body = await self.get([(b"x-client-identity", b"alice")])

        self.assertEqual(status, 200)
        self.assertEqual(body, b"alice")

    async def test_underscore_header_rejected(self):
        with self.assertLogs("revcheck_django", "WARNING") as logs:
            status, _body = await self.get([(b"x-client_identity", b"alice")])

        self.assertEqual(status, 403)
        self.assertIn("reason=underscore_header ", "\n".join(logs.output))

    @override_settings(REVCHECK_IDENTITY_REQUIRED=False)
    async def test_underscore_header_rejected_when_optional(self):
        # Django 5.2.13 and newer drop the header, which would leave the request anonymous.
        # The middleware rejects it by itself, also under Django releases that keep it.
        with self.assertLogs("revcheck_django", "WARNING") as logs:
            status, _body = await self.get(
                [(b"x-client-identity", b"alice"), (b"x-client_identity", b"mallory")]
            )

        self.assertEqual(status, 403)
        self.assertIn("reason=underscore_header ", "\n".join(logs.output))
