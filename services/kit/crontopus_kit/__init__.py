"""The service kit: one place for what every Crontopus service does the same way."""
