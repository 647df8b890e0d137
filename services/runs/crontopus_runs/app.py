"""The runs service alone: `uvicorn crontopus_runs.app:app` or `faststream run crontopus_runs.app:app`
(needs CRONTOPUS_NATS_URL; CRONTOPUS_DATABASE_URL for PostgreSQL)."""

from crontopus_kit.service_app import service_app
from crontopus_runs.settings import RunsSettings
from crontopus_runs.unit import RunsUnit

settings = RunsSettings()
app = service_app(lambda broker: [RunsUnit(settings, broker=broker)], settings, name="runs")
