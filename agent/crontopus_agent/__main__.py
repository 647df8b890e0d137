from crontopus_agent.cli import app

app()
