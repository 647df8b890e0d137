"""REST routes, one module per area. AUTH_ROUTERS lists the identity-backed ones."""

from crontopus_gateway.routes import api_keys, audit, auth, invitations, members

AUTH_ROUTERS: tuple = (auth, members, invitations, api_keys, audit)
