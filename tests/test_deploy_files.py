"""compose.yaml and deploy/ cannot be run here (no Docker), so what can be checked without it is:
the NATS configuration they assemble is accepted by a real nats-server, and every service the
platform has runs in compose with its own NATS login and is installed by the Dockerfile."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ruamel.yaml import YAML

from crontopus_kit.nats_security import server_config
from crontopus_kit.nats_server import nats_server_binary
from crontopus_server.platform import SERVICES

ROOT = Path(__file__).resolve().parents[1]


def test_the_compose_nats_configuration_with_the_generated_part_is_accepted_by_nats_server(tmp_path: Path) -> None:
    main = (ROOT / "deploy/nats/nats.conf").read_text().replace("store_dir: /data", f"store_dir: {tmp_path / 'js'}")
    (tmp_path / "nats.conf").write_text(main)
    (tmp_path / "crontopus").mkdir()
    (tmp_path / "crontopus/crontopus.conf").write_text(server_config(b"s" * 48))
    checked = subprocess.run(
        [nats_server_binary(), "-c", str(tmp_path / "nats.conf"), "-t"], capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_compose_runs_every_service_with_its_own_nats_login() -> None:
    compose = YAML(typ="safe").load((ROOT / "compose.yaml").read_text())["services"]
    for service in [*SERVICES, "gateway"]:
        assert compose[service]["command"][:2] == ["run", service]
        assert compose[service]["environment"]["CRONTOPUS_NATS_URL"] == f"nats://{service}@nats:4222"


def test_the_image_installs_every_service_package() -> None:
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    for service in [*SERVICES, "gateway", "server", "kit"]:
        assert f"./services/{service}" in dockerfile


def test_compose_keeps_identitys_mail_outbox_and_writes_the_nats_passwords_for_nats_alone() -> None:
    compose = YAML(typ="safe").load((ROOT / "compose.yaml").read_text())["services"]
    data_dir = "/var/lib/crontopus"  # the image's CRONTOPUS_DATA_DIR; the outbox is under it
    assert any(volume.endswith(f":{data_dir}") for volume in compose["identity"]["volumes"])
    assert compose["nats-config"]["command"][:2] == ["nats-config", "--output"]  # 0600, not a shell's `>`
