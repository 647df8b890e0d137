"""REST routes, one module per area. AUTH_ROUTERS lists the identity-backed ones."""

from crontopus_gateway.routes import api_keys, audit, auth, invitations, members, sso

AUTH_ROUTERS: tuple = (auth, sso, members, invitations, api_keys, audit)
