"""A RabbitMQ 4.x node in a container (image ``shop-offline/rabbitmq:4.0`` or ``$RABBITMQ_IMAGE``).

Quorum queues count deliveries differently on 4.x (a default delivery limit of 20, every return
counted), which is what the dlq tests must prove themselves against. Same interface as
:class:`event_contracts.testing.LocalRabbit`, so :func:`topology_vhost` works with it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from event_contracts.testing import _free_port, wait_until

IMAGE = os.environ.get("RABBITMQ_IMAGE", "shop-offline/rabbitmq:4.0")


class Rabbit4Container:
    def __init__(self) -> None:
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="rabbit4-test-"))
        self.dir.chmod(0o755)
        self.name = f"dlq-test-rabbit4-{self.port}"

    def _docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120, check=check)

    def start(self, timeout: float = 120) -> None:
        conf = self.dir / "30-test.conf"
        conf.write_text("loopback_users = none\nlog.console.level = warning\n")
        self._docker(
            "create",
            "--name",
            self.name,
            "-p",
            f"127.0.0.1:{self.port}:5672",
            "-v",
            f"{self.dir}:{self.dir}:ro",
            IMAGE,
        )
        self._docker("cp", str(conf), f"{self.name}:/etc/rabbitmq/conf.d/30-test.conf")
        self._docker("start", self.name)

        def ready() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                return False
            return (
                self._docker(
                    "exec", "-u", "rabbitmq", self.name, "rabbitmqctl", "-q", "await_startup", check=False
                ).returncode
                == 0
            )

        wait_until(ready, timeout=timeout, what=f"RabbitMQ 4 in container {self.name}", interval=1.0)

    def ctl(self, *args: str) -> str:
        result = self._docker("exec", "-u", "rabbitmq", self.name, "rabbitmqctl", "-q", *args, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {result.stderr or result.stdout}")
        return result.stdout

    def url(self, user: str, password: str, vhost: str) -> str:
        return f"amqp://{user}:{password}@127.0.0.1:{self.port}/{vhost}"

    def stop(self) -> None:
        self._docker("rm", "-f", self.name, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
