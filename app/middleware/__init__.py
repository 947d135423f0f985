"""Pure ASGI middleware, one a module."""
