from crontopus_gitops.models import JobIndex
from crontopus_kit.db import run_migrations_online

run_migrations_online(JobIndex.metadata)
