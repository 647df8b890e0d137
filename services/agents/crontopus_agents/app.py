"""The agents service alone: `uvicorn crontopus_agents.app:app` (needs CRONTOPUS_NATS_URL and
CRONTOPUS_SECRET_KEY; CRONTOPUS_DATABASE_URL for PostgreSQL)."""

from crontopus_agents.settings import AgentsSettings
from crontopus_agents.unit import AgentsUnit
from crontopus_kit.service_app import service_app

settings = AgentsSettings()
app = service_app(lambda broker: [AgentsUnit(settings, broker=broker)], settings, name="agents")
