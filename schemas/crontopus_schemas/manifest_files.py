"""Which files of a jobs folder are manifests, spelled once for each reader of them: the YAML
loader (``manifests``), the Git tree reader (``git_tree``) and the CLI. A module of its own so
that the agent's fetch process, which only lists files, starts without pydantic and ruamel.yaml."""

MANIFEST_SUFFIXES = (".yaml", ".yml")
MAX_MANIFEST_BYTES = 256 * 1024
