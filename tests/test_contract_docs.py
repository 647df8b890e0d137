"""The committed OpenAPI and AsyncAPI documents are what the code serves, and the console's
generated API types are what docs/openapi.json describes."""

import shutil
import subprocess
from pathlib import Path

import pytest

from crontopus_server.docs import documents

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
WEB = ROOT / "web"
CONSOLE_TYPES = WEB / "src" / "api" / "schema.d.ts"
OPENAPI_TYPESCRIPT = WEB / "node_modules" / "openapi-typescript" / "bin" / "cli.js"


@pytest.mark.parametrize(("name", "content"), sorted(documents().items()))
def test_the_committed_contract_is_up_to_date(name, content):
    committed = (DOCS / name).read_text()
    assert committed == content, f"docs/{name} is stale: run `.venv/bin/crontopus-server docs`"


def test_the_console_api_types_are_generated_from_the_committed_openapi(tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed, so web/src/api/schema.d.ts is not checked (install Node.js 20.19+)")
    if not OPENAPI_TYPESCRIPT.exists():
        pytest.fail("web/node_modules is missing: run `make web` (npm ci) to install the console's tools")
    fresh = tmp_path / "schema.d.ts"
    subprocess.run(
        [node, str(OPENAPI_TYPESCRIPT), str(DOCS / "openapi.json"), "--output", str(fresh)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    assert CONSOLE_TYPES.read_text() == fresh.read_text(), "web/src/api/schema.d.ts is stale: run `make docs`"
