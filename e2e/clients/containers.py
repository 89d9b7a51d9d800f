"""The stack's containers, found by their compose labels (project ``COMPOSE_PROJECT_NAME``).

Plain ``docker`` commands (kill, stop, start, exec): they need neither the compose file nor
its env files, so they act on whatever stack ``docker compose up`` started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile

from e2e.clients.waits import wait_until

# Finds the worker's prefork pool children: forked (never exec'd), so their command line is
# their parent's; everything else (PID 1, a shell wrapper, this script) differs from its parent.
_KILL_POOL_CHILDREN = r"""
import os, signal, sys
me = os.getpid()
def stat(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
        with open(f"/proc/{pid}/stat") as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        return cmd, ppid
    except (OSError, ValueError, IndexError):
        return None
procs = {int(p): stat(int(p)) for p in os.listdir("/proc") if p.isdigit()}
procs = {p: s for p, s in procs.items() if s and p != me}
pattern = sys.argv[1].encode()
victims = [p for p, (cmd, ppid) in procs.items()
           if pattern in cmd and ppid in procs and procs[ppid][0] == cmd and ppid != me]
for p in victims:
    os.kill(p, signal.SIGKILL)
print(" ".join(map(str, victims)))
"""


class Containers:
    def __init__(self, project: str) -> None:
        self.project = project

    @staticmethod
    def docker(*args: str, timeout: float = 120, check: bool = True) -> str:
        result = subprocess.run(
            ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"docker {' '.join(args)} failed ({result.returncode}): "
                f"{result.stderr.strip() or result.stdout.strip()}"
            )
        return result.stdout.strip()

    def of(self, service: str, *, running_only: bool = False) -> list[str]:
        """Container names of a compose service (all of its replicas)."""
        args = [
            "ps",
            "--format",
            "{{.Names}}",
            "--filter",
            f"label=com.docker.compose.project={self.project}",
            "--filter",
            f"label=com.docker.compose.service={service}",
        ]
        if not running_only:
            args.insert(1, "-a")
        names = sorted(n for n in self.docker(*args).splitlines() if n)
        assert names, f"no container of service {service!r} in compose project {self.project!r}"
        return names

    def state(self, name: str) -> str:
        return self.docker("inspect", "-f", "{{.State.Status}}", name)

    def health(self, name: str) -> str:
        return self.docker(
            "inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}", name
        )

    def kill(self, name: str) -> None:
        self.docker("kill", name)

    def stop(self, name: str, timeout: int = 20) -> None:
        self.docker("stop", "-t", str(timeout), name, timeout=timeout + 60)

    def start(self, name: str) -> None:
        self.docker("start", name)

    def started_at(self, name: str) -> str:
        return self.docker("inspect", "-f", "{{.State.StartedAt}}", name)

    def crash(self, name: str) -> bool:
        """SIGKILL the container's main process, as a crash would: compose's restart policy
        starts it again (``docker kill`` counts as a deliberate stop, which it does not restart).

        Needs the Docker daemon's PID namespace (the host). Elsewhere: ``docker kill`` and start
        it ourselves. True when the restart policy is what will bring it back.
        """
        pid = int(self.docker("inspect", "-f", "{{.State.Pid}}", name))
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            self.kill(name)
            self.start(name)
            return False
        return True

    def compose_restart(self, timeout: float = 600) -> None:
        """``docker compose restart``: every service of the project. Compose finds the project
        by its containers' labels, so it runs from an empty directory (no compose file or env
        files needed)."""
        with tempfile.TemporaryDirectory() as empty:
            result = subprocess.run(
                ["docker", "compose", "-p", self.project, "restart"],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                cwd=empty,
            )
        if result.returncode != 0:
            raise RuntimeError(
                f"docker compose restart failed ({result.returncode}): {result.stderr.strip()}"
            )

    def ensure_running(self, name: str) -> None:
        if self.state(name) != "running":
            self.start(name)

    def wait_running(self, name: str, *, healthy: bool = True, timeout: float = 180) -> None:
        def ok() -> bool:
            if self.state(name) != "running":
                return False
            return not healthy or self.health(name) in ("healthy", "none")

        wait_until(
            ok,
            timeout=timeout,
            interval=0.5,
            what=f"container {name} to run{' healthy' if healthy else ''}",
            describe=lambda: f"{self.state(name)}/{self.health(name)}",
        )

    def exec(self, name: str, *cmd: str, timeout: float = 30) -> str:
        return self.docker("exec", name, *cmd, timeout=timeout)

    def kill_pool_children(self, name: str, pattern: str = "worker") -> list[int]:
        """SIGKILL the prefork pool processes of the Celery worker in container ``name``."""
        out = self.exec(name, "python3", "-c", _KILL_POOL_CHILDREN, pattern)
        return [int(p) for p in out.split()]


class SwarmContainers(Containers):
    """The task containers of a Swarm stack (``docker stack deploy``), found by their service
    label ``com.docker.swarm.service.name=<stack>_<service>``, and the stack's services.

    Swarm replaces a task whose container dies with a new task (a new container): ``of`` answers
    the containers that exist now, ``ensure_running`` only waits for the replacement.
    """

    def __init__(self, stack: str) -> None:
        super().__init__(stack)
        self.stack = stack

    def service(self, service: str) -> str:
        return f"{self.stack}_{service}"

    def of(self, service: str, *, running_only: bool = True) -> list[str]:
        """Container names of a stack service's tasks (running ones by default: old tasks linger)."""
        args = [
            "ps",
            "--format",
            "{{.Names}}",
            "--filter",
            f"label=com.docker.swarm.service.name={self.service(service)}",
        ]
        if not running_only:
            args.insert(1, "-a")
        names = sorted(n for n in self.docker(*args).splitlines() if n)
        assert names, f"no container of service {service!r} in stack {self.stack!r}"
        return names

    def ensure_running(self, name: str) -> None:
        """Swarm restarts tasks itself: nothing to start by hand."""

    def replicas(self, service: str) -> tuple[int, int]:
        """(running, desired) tasks, as ``docker service ls`` counts them (running = healthy)."""
        out = self.docker(
            "service",
            "ls",
            "--filter",
            f"name={self.service(service)}",
            "--format",
            "{{.Name}} {{.Replicas}}",
        )
        for line in out.splitlines():
            name, replicas = line.split(" ", 1)
            if name == self.service(service):
                running, _, desired = replicas.partition("/")
                return int(running), int(desired.split(" ", 1)[0])
        raise AssertionError(f"no service {self.service(service)}")

    def wait_converged(self, service: str, *, timeout: float = 300) -> None:
        def done() -> bool:
            running, desired = self.replicas(service)
            return running == desired and len(self.of(service)) == desired

        wait_until(
            done,
            timeout=timeout,
            interval=1,
            what=f"service {self.service(service)} to run all its tasks healthy",
            describe=lambda: f"running/desired {self.replicas(service)}, containers {self.of(service)}",
        )

    def scale(self, service: str, replicas: int, *, timeout: float = 300) -> None:
        self.docker("service", "scale", "--detach", f"{self.service(service)}={replicas}")
        self.wait_converged(service, timeout=timeout)

    def update_force(self, service: str, *, timeout: float = 600) -> None:
        """A rolling update (every task replaced, per the service's update_config); returns when
        Swarm reports it converged."""
        self.docker(
            "service",
            "update",
            "--force",
            "--detach=false",
            "--quiet",
            self.service(service),
            timeout=timeout,
        )

        def update_state() -> str:
            return self.docker(
                "service",
                "inspect",
                "-f",
                "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}",
                self.service(service),
            )

        # The CLI returns once every task was replaced; Swarm reports the update `completed`
        # only after its monitor period (update_config.monitor) passed without a failure.
        wait_until(
            lambda: update_state() not in ("updating", "rollback_started"),
            timeout=timeout,
            interval=1,
            what=f"the update of {self.service(service)} to end",
            describe=update_state,
        )
        state = update_state()
        assert state in ("", "completed"), f"update of {self.service(service)} ended {state!r}"
        self.wait_converged(service, timeout=timeout)

    def container_id(self, name: str) -> str:
        return self.docker("inspect", "-f", "{{.Id}}", name)
