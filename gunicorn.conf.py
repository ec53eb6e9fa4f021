"""gunicorn settings read from the working directory (the Procfile's `web` and `make run`).

Keep-alive: gunicorn's default (2 s) is shorter than the idle time of common client pools
(Node's fetch/undici keeps idle sockets 4-5 s), so a client could reuse a connection the
server had just closed and fail with "fetch failed". 75 s, as nginx uses, outlasts them.
Behind a proxy, keep the proxy's upstream keep-alive *shorter* than this (deploy notes in
README). Only threaded workers (`--threads` > 1, the Procfile's default) keep connections.
https://docs.gunicorn.org/en/stable/settings.html#keepalive
"""

import os

keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))

# Access log: off unless GUNICORN_ACCESS_LOG names a file ("-" for stdout). The app already
# writes one line per request (veosaas.middleware.RequestContextMiddleware: method, path,
# route, status, latency, request id, account), so a second line per request would only cost
# CPU on the hottest paths.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
