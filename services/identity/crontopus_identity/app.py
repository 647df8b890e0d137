"""The identity service alone: `uvicorn crontopus_identity.app:app` or
`faststream run crontopus_identity.app:app` (needs CRONTOPUS_NATS_URL and CRONTOPUS_SECRET_KEY;
CRONTOPUS_DATABASE_URL for PostgreSQL)."""

from crontopus_identity.settings import IdentitySettings
from crontopus_identity.unit import IdentityUnit
from crontopus_kit.service_app import service_app

settings = IdentitySettings()
app = service_app(lambda broker: [IdentityUnit(settings, broker=broker)], settings, name="identity")
