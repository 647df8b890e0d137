from crontopus_alerting.models import SQLModel
from crontopus_kit.db import run_migrations_online

run_migrations_online(SQLModel.metadata)
