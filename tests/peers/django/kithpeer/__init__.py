# Why: marks the Django project package (settings, URLconf, ASGI entry point) of the Kith test peer.
