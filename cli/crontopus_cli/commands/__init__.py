"""One module per command group; each exports a Typer `app` that main.py mounts."""
