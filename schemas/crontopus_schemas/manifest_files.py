"""Which files of a jobs folder are manifests, and how their text is read, spelled once for each
reader of them: the YAML loader (``manifests``), the Git tree reader (``git_tree``) and the CLI. A
module of its own so that the agent's fetch process, which only lists files, starts without
pydantic and ruamel.yaml.

Bytes that are not UTF-8 stay in the text as lone surrogates (U+DC80..U+DCFF, Python's
"surrogateescape"), which no UTF-8 text holds: ``manifests.load_files`` reports such a file as an
error of its own, naming the first such byte and where it is, and the other files still load.
(Replaced with U+FFFD, as the server did, they loaded the job with a mangled argument or label;
refusing to read the file, as the CLI did, stopped at the first one.) The text survives JSON as it
is (``json.dumps`` escapes a lone surrogate as ``\\udce9``), so the agent's fetch process can hand
it on."""

from pathlib import Path

MANIFEST_SUFFIXES = (".yaml", ".yml")
MAX_MANIFEST_BYTES = 256 * 1024
_UNDECODABLE = "surrogateescape"


def decode_manifest(data: bytes) -> str:
    """A manifest file's text from its bytes (e.g. a Git blob)."""
    return data.decode("utf-8", errors=_UNDECODABLE)


def read_manifest(path: Path) -> str:
    """A manifest file's text from disk (line ends as Python reads text: CRLF becomes LF)."""
    return path.read_text(encoding="utf-8", errors=_UNDECODABLE)
