"""A cookie-carrying HTTP client for the Python test drivers (C server, Koa<->C)."""

import http.client
import urllib.parse


class Browser:
    """One cookie jar for 127.0.0.1, as a browser keeps it: Set-Cookie with a value stores
    the cookie, an empty value (a clearing cookie) removes it. Usable against several ports."""

    def __init__(self):
        self.jar = {}
        self.headers = None  # the last response's headers (an http.client.HTTPMessage)

    def request(self, port, method, path, jar=None, form=None):
        """Sends the jar's cookies (or `jar`'s, leaving the jar untouched), and `form` (a dict)
        url-encoded as the body when given; returns (status, body, Set-Cookie values)."""
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        cookies = self.jar if jar is None else jar
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}
        body = None
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = urllib.parse.urlencode(form)
        conn.request(method, path, body=body, headers=headers)
        res = conn.getresponse()
        body = res.read().decode()
        set_cookies = res.msg.get_all("Set-Cookie") or []
        self.headers = res.msg
        conn.close()
        if jar is None:
            for sc in set_cookies:
                name, _, rest = sc.partition("=")
                value = rest.split(";", 1)[0]
                if value:
                    self.jar[name] = value
                else:
                    self.jar.pop(name, None)
        return res.status, body, set_cookies


def fields(body):
    """The C example server's `name: value` lines as a dict."""
    return dict(line.split(": ", 1) for line in body.strip().splitlines())


def check(cond, what):
    if not cond:
        raise AssertionError(what)
