"""Reading job manifests from YAML: every problem names its file, line and field, and one bad
file never hides the good ones. Used offline by `crontopus jobs validate` and by the gitops
service on each commit."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import MaxDepthExceededError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from crontopus_schemas.manifest import JobManifest
from crontopus_schemas.manifest_files import MANIFEST_SUFFIXES, MAX_MANIFEST_BYTES, read_manifest
from crontopus_schemas.strict import MANIFEST_CONTEXT

# How deep lists and mappings may sit inside each other (ruamel counts every node, the document's
# own mapping and the scalars included). A manifest's deepest value is at 6
# (spec.monitor.maintenance[0].start); 64 leaves room for a misplaced block while staying far
# from where the parser, which recurses up to 4 Python frames per level, meets Python's limit of
# 1,000 (a file 1,000 levels deep raised RecursionError and stopped the team's whole sync).
# Refusing it is not free: 256 KiB of "[" on one line costs ruamel's scanner about a second of
# CPU (it looks ahead ~1,000 characters), once, as results are cached.
MAX_DEPTH = 64
# What ``manifest_files`` leaves of bytes that are not UTF-8 (and no UTF-8 text holds).
_UNDECODABLE = re.compile("[\ud800-\udfff]")
TOO_DEEP = f"nested too deeply: more than {MAX_DEPTH} levels of lists and mappings (a manifest needs 6)"


@dataclass(frozen=True)
class ManifestError:
    file: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


@dataclass(frozen=True)
class LoadedJob:
    manifest: JobManifest
    file: str
    line: int  # of metadata.name


@dataclass
class LoadResult:
    jobs: list[LoadedJob] = field(default_factory=list)
    errors: list[ManifestError] = field(default_factory=list)


def load_files(
    files: Iterable[tuple[str, str | None]],
    *,
    folder_of: Callable[[str], str] | None = None,
    defined_in: Mapping[str, str] | None = None,
) -> LoadResult:
    """Manifests from (path relative to the jobs folder, text) pairs, e.g. a commit's tree; the
    text None for a file left unread because it is over the size limit (``git_tree``).

    ``folder_of`` names the folder a path is in when the path alone does not tell, e.g. a file
    the user named relative to the current directory (``hello.yaml`` inside ``jobs/staging``);
    the path is still what messages show.

    A ``namespace/name`` defined more than once is loaded from one place only, and every other
    definition is an error of its own file: the place is the file ``defined_in`` names for the
    job (the file that defined it at the previous commit), so a new file that reuses a running
    job's name never replaces that job; without one (both new, or nothing known), the first file
    by path, and within a file the first document."""
    loaded = [load_document(path, text, folder=folder_of(path) if folder_of else None) for path, text in sorted(files)]
    kept = _kept_definitions([job for jobs, _ in loaded for job in jobs], defined_in or {})
    result = LoadResult()
    for jobs, errors in loaded:
        result.errors += errors
        for job in jobs:
            first = kept[job.manifest.ref]
            if job is first:
                result.jobs.append(job)
                continue
            message = f"{job.manifest.ref} is already defined in {first.file}:{first.line}"
            result.errors.append(ManifestError(job.file, job.line, "metadata.name", message))
    return result


def _kept_definitions(jobs: list[LoadedJob], defined_in: Mapping[str, str]) -> dict[str, LoadedJob]:
    """The one definition loaded for each ref, out of ``jobs`` in file order (see load_files)."""
    kept: dict[str, LoadedJob] = {}
    for job in jobs:
        ref, first = job.manifest.ref, kept.get(job.manifest.ref)
        previous = defined_in.get(ref)
        if first is None or (first.file != previous and job.file == previous):
            kept[ref] = job
    return kept


def load_tree(root: Path) -> LoadResult:
    """Every *.yaml / *.yml below ``root`` (a checkout's jobs folder)."""
    files = []
    for path in sorted(p for p in root.rglob("*") if p.suffix in MANIFEST_SUFFIXES and p.is_file()):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        files.append((path.relative_to(root).as_posix(), read_manifest(path)))
    return load_files(files)


def load_document(
    path: str, text: str | None, *, folder: str | None = None
) -> tuple[list[LoadedJob], list[ManifestError]]:
    """The jobs in one file (it may hold several documents separated by ---); ``text`` None for
    a file too large to have been read. ``folder`` is the namespace folder the file is in, by
    default the last folder of ``path``.

    Parsing YAML costs about a millisecond per small manifest, and every sync (gitops and each
    agent) reads every file of a commit: results are cached by (path, text), so a sync parses
    only the files that changed. Jobs and errors are immutable; the lists are fresh copies."""
    if folder is None:
        folder = PurePosixPath(path).parent.name
    jobs, errors = _load_document_cached(path, text, folder)
    return list(jobs), list(errors)


@lru_cache(maxsize=4096)
def _load_document_cached(
    path: str, text: str | None, folder: str
) -> tuple[tuple[LoadedJob, ...], tuple[ManifestError, ...]]:
    jobs, errors = _load_document(path, text, folder)
    return tuple(jobs), tuple(errors)


def _load_document(path: str, text: str | None, folder: str) -> tuple[list[LoadedJob], list[ManifestError]]:
    if text is not None and (undecodable := _UNDECODABLE.search(text)):
        return [], [_not_utf8(path, text, undecodable.start())]
    if text is None or len(text.encode()) > MAX_MANIFEST_BYTES:
        return [], [_too_large(path)]
    try:
        return _load_documents(path, text, folder)
    except RecursionError:
        # MAX_DEPTH bounds the parser; this is for whatever might still recurse on odd input
        # (anchors and aliases building a deep value out of shallow pieces): one file's error,
        # never the whole commit's.
        return [], [ManifestError(path, None, None, TOO_DEEP)]


def _load_documents(path: str, text: str, folder: str) -> tuple[list[LoadedJob], list[ManifestError]]:
    try:
        documents = list(yaml_reader().load_all(text))
    except YAMLError as exc:
        return [], [_yaml_error(path, exc)]
    jobs, errors = [], []
    for document in documents:
        if document is None:
            continue
        job, problems = _load_one(path, folder, document)
        errors += problems
        if job:
            jobs.append(job)
    return jobs, errors


def _not_utf8(path: str, text: str, at: int) -> ManifestError:
    """The file's first byte that is not UTF-8 (a lone surrogate: see ``manifest_files``), by line
    and column: a byte offset would differ between the CLI, which reads CRLF line ends as LF, and
    the server, which reads the blob as committed."""
    code = ord(text[at])
    found = f"byte 0x{code - 0xDC00:02X}" if 0xDC80 <= code <= 0xDCFF else f"character U+{code:04X}"
    line, column = text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)
    message = f"not UTF-8: {found} in column {column}; save the file as UTF-8: none of its jobs are loaded"
    return ManifestError(path, line, None, message)


def _too_large(path: str) -> ManifestError:
    limit = f"{MAX_MANIFEST_BYTES // 1024} KiB"
    return ManifestError(
        path, None, None, f"larger than {limit}, the most a manifest may be: none of its jobs are loaded"
    )


def yaml_reader() -> YAML:
    """How manifests are read: round-trip (so every key keeps its line), duplicate keys refused,
    and nesting deeper than MAX_DEPTH refused with its line instead of recursing until Python
    gives up. For any code that reads a manifest's YAML, so it fails the same way."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.max_depth = MAX_DEPTH
    return yaml


def _yaml_error(path: str, exc: YAMLError) -> ManifestError:
    if isinstance(exc, MaxDepthExceededError):
        mark = exc.problem_mark
        return ManifestError(path, mark.line + 1 if mark else None, None, TOO_DEEP)
    line = None
    message = str(exc).splitlines()[0]
    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        message = " ".join(part for part in (exc.context, exc.problem) if part) or message
    if "alias" in message:
        message += ' (a value starting with * must be quoted, e.g. schedule: "* * * * *")'
    return ManifestError(path, line, None, f"not valid YAML: {message}")


def _load_one(path: str, folder: str, document: Any) -> tuple[LoadedJob | None, list[ManifestError]]:
    start = _line(document)
    if not isinstance(document, CommentedMap):
        return None, [ManifestError(path, start, None, "a manifest is a mapping with apiVersion, kind, metadata, spec")]
    try:
        # People write YAML: a quoted number (`count: "3"`) is the number, as it always was.
        manifest = JobManifest.model_validate(document, context=MANIFEST_CONTEXT)
    except ValidationError as exc:
        return None, [_field_error(path, document, error) for error in exc.errors()]
    if manifest.metadata.namespace != folder:
        line = _line_of(document, ("metadata", "namespace"))
        expected = f"a folder named {manifest.metadata.namespace}/" if folder else "a namespace folder"
        message = (
            f"namespace {manifest.metadata.namespace!r} must match the folder the file is in; move it into {expected}"
        )
        return None, [ManifestError(path, line, "metadata.namespace", message)]
    return LoadedJob(manifest, path, _line_of(document, ("metadata", "name")) or start or 1), []


def _field_error(path: str, document: CommentedMap, error: Any) -> ManifestError:
    loc = tuple(error["loc"])
    return ManifestError(path, _line_of(document, loc), ".".join(str(p) for p in loc) or None, _message(error))


def _message(error: Any) -> str:
    kind, field_name = error["type"], str(error["loc"][-1]) if error["loc"] else ""
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown field; check its spelling against docs/job-manifest-spec.md"
    if kind == "string_pattern_mismatch" and field_name in {"name", "namespace"}:
        return "must be lowercase letters, digits and '-' (a DNS label, at most 63 characters)"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _line(node: Any) -> int | None:
    lc = getattr(node, "lc", None)
    return lc.line + 1 if lc is not None and lc.line is not None else None


def _line_of(document: CommentedMap, loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest part of ``loc`` that exists in the document."""
    node: Any = document
    line = _line(document)
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line
