"""REST routes, one module per area. AUTH_ROUTERS lists the identity-backed ones."""

AUTH_ROUTERS: tuple = ()
