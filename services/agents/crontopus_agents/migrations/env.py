from crontopus_agents.models import SQLModel
from crontopus_kit.db import run_migrations_online

run_migrations_online(SQLModel.metadata)
