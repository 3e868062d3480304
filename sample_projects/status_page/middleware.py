"""Home-made WSGI middleware, the way many small services grew them."""


def security_headers(app):
    """Adds the headers the security review asked for to every response."""

    def wrapped(environ, start_response):
        def start(status, headers, exc_info=None):
            headers = list(headers) + [
                ("X-Content-Type-Options", "nosniff"),
                ("X-Frame-Options", "DENY"),
            ]
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return wrapped


class RequestCounter:
    """Numbers the requests: the number goes into the environ for the app and into an
    ``X-Request-Number`` response header."""

    def __init__(self, app):
        self.app = app
        self.count = 0

    def __call__(self, environ, start_response):
        self.count += 1
        number = self.count
        environ["status_page.request_number"] = number

        def start(status, headers, exc_info=None):
            return start_response(status, headers + [("X-Request-Number", str(number))], exc_info)

        return self.app(environ, start)
