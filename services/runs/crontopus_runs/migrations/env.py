from crontopus_kit.db import run_migrations_online
from crontopus_runs.models import Run

run_migrations_online(Run.metadata)
