"""Client-certificate login for Django behind nginx and revcheck.

``RevcheckMiddleware`` reads the identity that revcheck established for the request's client
certificate, and ``RevcheckBackend`` maps it to exactly one user.
"""

__version__ = "0.1.0"
