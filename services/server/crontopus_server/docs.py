"""Generate the contract documents: the REST API (OpenAPI) and the events (AsyncAPI).

`crontopus-server docs` writes them into docs/; a test fails when the committed copies are stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from faststream.specification import AsyncAPI

from crontopus_kit.broker import make_broker
from crontopus_server.platform import all_in_one_app, build_units

VERSION = "0.1.0"
PLACEHOLDER_NATS = "nats://nats:4222"  # nothing connects: the documents only describe


def openapi_document() -> dict[str, Any]:
    return all_in_one_app(PLACEHOLDER_NATS).openapi()


def asyncapi_document() -> dict[str, Any]:
    broker = make_broker(PLACEHOLDER_NATS, name="crontopus")
    for unit in build_units():
        broker.include_router(unit.router)
    spec = AsyncAPI(broker, title="Crontopus events", version=VERSION, schema_version="3.0.0")
    return json.loads(spec.to_specification().to_json())


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def write_docs(out: Path) -> list[Path]:
    written = []
    for name, document in (("openapi.json", openapi_document()), ("asyncapi.json", asyncapi_document())):
        path = out / name
        path.write_text(render(document))
        written.append(path)
    return written
