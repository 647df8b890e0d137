"""The committed OpenAPI and AsyncAPI documents are what the code serves."""

from pathlib import Path

import pytest

from crontopus_server.docs import documents

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize(("name", "content"), sorted(documents().items()))
def test_the_committed_contract_is_up_to_date(name, content):
    committed = (DOCS / name).read_text()
    assert committed == content, f"docs/{name} is stale: run `.venv/bin/crontopus-server docs`"
