"""The web console served by the gateway at / (same origin as the API): its files with their cache
headers and a strict CSP, index.html for client-side routes, a page saying how to build it where
it is not built, and the API exactly as before."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from crontopus_gateway.console import CONSOLE_CSP, default_web_dir

INDEX = '<!doctype html><html><head><script type="module" src="/assets/index-4f2a9c.js"></script></head>' \
        "<body><div id=root>console-index-marker</div></body></html>"  # fmt: skip
SCRIPT = "console.log('console-script-marker')"
SECRET = "not-for-the-browser-5e1d"


@pytest.fixture
def database_backend() -> str:
    return "sqlite"


@pytest.fixture
def web_dir(tmp_path: Path) -> Path:
    """A built console as Vite lays it out, and a file beside it that must never be served."""
    dist = tmp_path / "site" / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(INDEX)
    (dist / "assets" / "index-4f2a9c.js").write_text(SCRIPT)
    (dist / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (tmp_path / "site" / "secret.txt").write_text(SECRET)
    (dist / "leak.txt").symlink_to(tmp_path / "site" / "secret.txt")
    return dist


@pytest.fixture
def stack_env(stack_env, web_dir, request):
    return {**stack_env, "CRONTOPUS_WEB_DIR": getattr(request, "param", web_dir)}


def raw_get(url: str, path: str) -> bytes:
    """A GET sent as written: HTTP clients remove '..' segments before sending."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_the_console_is_served_at_the_root_never_cached_under_a_strict_policy(api):
    page = api.get("/")
    assert page.status_code == 200 and "console-index-marker" in page.text
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    assert page.headers["content-security-policy"] == CONSOLE_CSP
    assert "script-src 'self';" in CONSOLE_CSP and "unsafe-inline" not in CONSOLE_CSP.split("style-src")[0]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY" and page.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize(
    "path", ["/login", "/jobs", "/jobs/new", "/jobs/production/backup-database", "/runs/run-1.2_x:y", "/runs?cursor=x"]
)
def test_client_side_routes_load_the_console(api, path):
    page = api.get(path)
    assert (page.status_code, page.headers["cache-control"]) == (200, "no-cache")
    assert "console-index-marker" in page.text
    assert page.headers["content-security-policy"] == CONSOLE_CSP


def test_hashed_assets_are_cached_for_a_year_and_a_missing_one_is_a_404(api):
    script = api.get("/assets/index-4f2a9c.js")
    assert script.status_code == 200 and script.text == SCRIPT
    assert "javascript" in script.headers["content-type"]
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert script.headers["content-security-policy"] == CONSOLE_CSP
    again = api.get("/assets/index-4f2a9c.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304
    missing = api.get("/assets/index-000000.js")
    assert missing.status_code == 404 and "console-index-marker" not in missing.text
    other = api.get("/favicon.svg")
    assert (other.status_code, other.headers["cache-control"]) == (200, "no-cache")


def test_the_api_and_the_operational_routes_answer_as_before(api):
    answers = {
        "/api/jobs": (401, "application/json"),
        "/api/no/such/thing": (404, "application/json"),
        "/api": (404, "application/json"),
        "/ping/abcdefghijklmnopqrstuv": (404, "application/json"),
        "/ping": (404, "application/json"),
        "/metrics": (200, "text/plain"),
        "/health": (200, "application/json"),
        "/docs": (200, "text/html"),
        "/docs/oauth2-redirect": (200, "text/html"),
        "/redoc": (200, "text/html"),
        "/openapi.json": (200, "application/json"),
    }
    for path, (status, content_type) in answers.items():
        response = api.get(path)
        assert (response.status_code, response.headers["content-type"].split(";")[0]) == (status, content_type), path
        assert "console-index-marker" not in response.text, path
        assert response.headers["content-security-policy"] != CONSOLE_CSP, path
    assert api.get("/api/no/such/thing").json() == {"detail": "Not Found"}
    assert api.post("/jobs").status_code == 404, "only GET and HEAD load the console"
    assert api.post("/api/jobs/x/y/z").json() == {"detail": "Not Found"}
    assert "console-index-marker" not in api.get("/openapi.json").text


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/%2e%2e%2fsecret.txt",
        "/assets/../../secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt",
        "/jobs/../../secret.txt", "/..%5csecret.txt", "/leak.txt", "//secret.txt", "/%2fsecret.txt",
    ],
)  # fmt: skip
def test_no_path_leaves_the_console_folder(stack, path):
    answer = raw_get(stack.url, path)
    assert answer.startswith((b"HTTP/1.1 200", b"HTTP/1.1 404", b"HTTP/1.1 400")), answer[:100]
    assert SECRET.encode() not in answer


@pytest.mark.parametrize("stack_env", [Path("/nonexistent/crontopus-web-dist")], indirect=True)
def test_without_a_built_console_the_root_says_how_to_build_it_and_the_api_works(api):
    for path in ("/", "/jobs/production/backup"):
        page = api.get(path)
        assert (page.status_code, page.headers["content-type"].split(";")[0]) == (200, "text/html")
        assert "make run" in page.text and "make web" in page.text and "Node.js 20" in page.text
        assert page.headers["content-security-policy"] == CONSOLE_CSP
        assert "<script" not in page.text
    assert api.get("/api/jobs").status_code == 401
    assert api.get("/assets/index-4f2a9c.js").status_code == 404


def test_by_default_the_console_is_web_dist_of_the_checkout():
    assert default_web_dir() == Path(__file__).resolve().parents[3] / "web" / "dist"


def test_the_manifest_schema_editors_point_at_is_served_as_documented(api):
    """docs/job-manifest-spec.md: `# yaml-language-server: $schema=https://<server>/docs/job-manifest.schema.json`."""
    answer = api.get("/docs/job-manifest.schema.json")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    documented = json.loads((Path(__file__).parents[3] / "docs" / "job-manifest.schema.json").read_text())
    assert answer.json() == documented
