"""The alerting service alone: `uvicorn crontopus_alerting.app:app` or `faststream run
crontopus_alerting.app:app` (needs CRONTOPUS_NATS_URL; CRONTOPUS_DATABASE_URL for PostgreSQL).
`crontopus-server run alerting` does the same on port 8085."""

from crontopus_alerting.settings import AlertingSettings
from crontopus_alerting.unit import AlertingUnit
from crontopus_kit.service_app import service_app

settings = AlertingSettings()
app = service_app(lambda broker: [AlertingUnit(settings, broker=broker)], settings, name="alerting")
