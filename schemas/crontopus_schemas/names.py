"""Name patterns, spelled once: a DNS label (namespaces, job names, team slugs, as Kubernetes
names them) and a job reference ``<namespace>/<name>``."""

_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"

DNS_LABEL = rf"^{_LABEL}$"
JOB_REF_PATTERN = rf"^{_LABEL}/{_LABEL}$"
