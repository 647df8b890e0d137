"""The gitops service alone: `uvicorn crontopus_gitops.app:app` or `faststream run crontopus_gitops.app:app`."""

from crontopus_gitops.settings import GitopsSettings
from crontopus_gitops.unit import GitopsUnit
from crontopus_kit.service_app import service_app

settings = GitopsSettings()
app = service_app(lambda broker: [GitopsUnit(settings, broker=broker)], settings, name="gitops")
