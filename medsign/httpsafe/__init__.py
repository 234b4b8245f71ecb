"""Defences every HTTP surface shares — the service and the three emulators alike.

- :mod:`~medsign.httpsafe.bodies`: JSON parsed with a size and a nesting-depth limit, so a
  hostile body is a clear 4xx instead of a ``RecursionError`` (a 500 with a traceback).
- :mod:`~medsign.httpsafe.headers`: the security headers (CSP, framing, sniffing, referrer,
  HSTS when asked) on every response, and the favicon, as one ASGI middleware.

No imports from the rest of medsign: the emulators use it without pulling in the service.
"""
