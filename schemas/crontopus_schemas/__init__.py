"""Crontopus wire contracts.

Every NATS subject, stream and durable name, every event and every request-reply
payload is defined here once. Services import these; no other module spells a subject.
"""
