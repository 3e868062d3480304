"""wsgi2asgi's codemod: rewrite WSGI applications and middleware into native ASGI code.

The command line lives in :mod:`migrate.cli`; the rules in :mod:`migrate.rules`.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
