"""The environment's reverse proxy: one long-lived HAProxy container per docker environment, driven at runtime.

HAProxy owns the environment's stable ``host:port`` (host networking) and sends requests to one of two server slots,
``a`` and ``b``, each pointing at one app version's private ``127.0.0.1:$PORT``. HAProxy health-checks both slots
itself (``rise`` consecutive 2xx, each check bounded), so its counters are the one view of which version takes
traffic and how it answers. Every change goes through the runtime API (``set server ... addr/state``: no reload, no
dropped connection), reached with ``docker exec ... socat`` so an ``ssh://`` Docker host works the same. After each
change the config file inside the container is rewritten to match, so the proxy comes back in the same state when
the engine restarts (restart policy ``unless-stopped``).

Each slot has a twin, ``<slot>-backup``, declared ``backup``: HAProxy sends it requests only when no active server
is up. During the bake the previous version stands there, so the moment HAProxy marks the new version down, new
requests go back to the previous one (no "503 No server is available" while Shipyard switches back).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from shipyard._errors import DeployError
from shipyard.deploy._docker_state import tar_files

__all__ = ["DEFAULT_IMAGE", "SLOTS", "HaproxyProxy", "SlotView", "other"]

DEFAULT_IMAGE = "shipyard/proxy:haproxy-bookworm"
SLOTS = ("a", "b")
CONFIG = "/etc/shipyard/haproxy.cfg"
SOCKET = "/tmp/shipyard-haproxy.sock"  # noqa: S108 - inside the proxy container
BACKEND = "app"
# admin-state bits of `show servers state` (HAProxy's SRV_ADMF_*): forced/inherited/resolver/health maintenance.
_MAINT_BITS = 0x01 | 0x02 | 0x20 | 0x40
_DRAIN_BITS = 0x08 | 0x10


def other(slot: str) -> str:
    return SLOTS[1] if slot == SLOTS[0] else SLOTS[0]


def backup(slot: str) -> str:
    """The backup twin of ``slot``: the previous version's stand-by while the new one bakes."""
    return f"{slot}-backup"


@dataclass(frozen=True)
class SlotView:
    """One server slot as HAProxy sees it now."""

    slot: str
    port: int
    mode: str  # "serving" (takes new requests), "drain" (checked, no new requests) or "maint" (off)
    up: bool  # HAProxy's health verdict: `rise` consecutive good checks, not yet `fall` bad ones
    check: str  # the last check, e.g. "L7OK 200", "L7STS 503", "L4CON Connection refused"
    current: int  # requests in flight (sessions on this server) plus queued
    responses: int
    errors_5xx: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "port": self.port,
            "mode": self.mode,
            "healthy": self.up,
            "last_check": self.check,
            "in_flight": self.current,
            "requests": self.responses,
            "5xx": self.errors_5xx,
        }


class HaproxyProxy:
    """The proxy container ``shipyard-proxy-<env>`` and its runtime API."""

    def __init__(
        self,
        client: Any,
        env: str,
        *,
        host: str,
        port: int,
        image: str = DEFAULT_IMAGE,
        health_path: str = "/",
        rise: int = 3,
    ) -> None:
        self.client, self.env, self.host, self.port = client, env, host, port
        self.image, self.health_path, self.rise = image, health_path, rise
        self.name = f"shipyard-proxy-{env}"

    # -- the container --------------------------------------------------------------------------------------

    def config(self, servers: dict[str, tuple[int, bool]]) -> str:
        """The HAProxy config for slot -> (port, serving). The slot not serving starts in maintenance."""
        lines = [
            "global",
            f"  stats socket {SOCKET} mode 600 level admin",
            "  stats timeout 10s",
            "defaults",
            "  mode http",
            "  option http-keep-alive",
            "  timeout connect 2s",
            "  timeout client 75s",
            "  timeout server 75s",
            "  timeout http-keep-alive 15s",
            "  timeout check 2s",
            # a request whose connection to a version is refused or closed unanswered goes to another try
            "  retries 3",
            "  option redispatch 1",
            "  retry-on conn-failure empty-response",
            "frontend web",
            f"  bind {self.host}:{self.port}",
            f"  default_backend {BACKEND}",
            f"backend {BACKEND}",
            "  option httpchk",
            f"  http-check send meth GET uri {self.health_path} ver HTTP/1.1 hdr Host localhost",
            "  http-check expect rstatus ^2",
            f"  default-server inter 500ms fastinter 50ms downinter 50ms rise {self.rise} fall 2",
        ]
        for slot in SLOTS:
            port, serving = servers.get(slot, (1, False))
            lines.append(f"  server {slot} 127.0.0.1:{port} check" + ("" if serving else " disabled"))
        lines += [f"  server {backup(slot)} 127.0.0.1:1 check backup disabled" for slot in SLOTS]
        return "\n".join(lines) + "\n"

    def _fingerprint(self) -> str:
        return hashlib.sha256(
            f"{self.image}|{self.host}|{self.port}|{self.health_path}|{self.rise}|backups".encode()
        ).hexdigest()[:16]

    def container(self) -> Any | None:
        import docker.errors

        try:
            return self.client.containers.get(self.name)
        except docker.errors.NotFound:
            return None

    def ensure(self) -> None:
        """Make sure the proxy runs with this environment's settings (created on the first deploy, started if it
        stopped, recreated only when its image, address or health check changed)."""
        import docker.errors

        found = self.container()
        carried: dict[str, tuple[int, bool]] = {}
        if found is not None and found.labels.get("shipyard.proxy-config") != self._fingerprint():
            if found.status == "running":  # keep the version that takes traffic in the new proxy's config
                carried = {v.slot: (v.port, True) for v in self.slots().values() if v.mode == "serving"}
            found.remove(force=True)  # settings changed: a short gap on the stable port, only on such a change
            found = None
        if found is not None and found.status == "running":
            return  # the usual case: running with these settings (a dead socket shows at the next command)
        try:
            if found is None:
                found = self._create(carried)
            found.start()
        except docker.errors.APIError as exc:
            raise DeployError(f"cannot start the proxy container {self.name}: {exc.explanation}") from exc
        self._wait_ready(found)

    def _create(self, servers: dict[str, tuple[int, bool]]) -> Any:
        import docker.errors

        try:
            self.client.images.get(self.image)
        except docker.errors.ImageNotFound:
            try:
                self.client.images.pull(self.image)
            except docker.errors.APIError as exc:
                raise DeployError(
                    f"proxy image {self.image} is not on the Docker host and cannot be pulled "
                    "(build it with `bash ci/proxy-image.sh`, or set proxy_image)"
                ) from exc
        created = self.client.containers.create(
            self.image,
            command=["haproxy", "-W", "-db", "-f", CONFIG],
            name=self.name,
            network_mode="host",
            restart_policy={"Name": "unless-stopped"},
            labels={"shipyard.env": self.env, "shipyard.role": "proxy", "shipyard.proxy-config": self._fingerprint()},
            # Unused by HAProxy: mounted so that no volume prune removes the deploy journal while the proxy runs.
            volumes={f"shipyard-state-{self.env}": {"bind": "/shipyard-state", "mode": "ro"}},
        )
        created.put_archive("/", tar_files({CONFIG.lstrip("/"): self.config(servers).encode()}))
        return created

    def _wait_ready(self, container: Any, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            container.reload()
            if container.status == "running":
                try:
                    self.command("show info")
                    return
                except DeployError:
                    pass
            if time.monotonic() > deadline or container.status in {"exited", "dead", "restarting"}:
                lines = container.logs(tail=10).decode(errors="replace").strip().splitlines()
                alert = next((line for line in lines if "ALERT" in line), lines[-1] if lines else "no output")
                container.remove(force=True)  # a proxy that cannot start must not keep restarting in a loop
                raise DeployError(
                    f"the proxy {self.name} did not start on {self.host}:{self.port}: {alert.strip()}"
                    + ("; is the port taken?" if "bind" in alert else "")
                )
            time.sleep(0.1)

    # -- the runtime API -----------------------------------------------------------------------------------

    def command(self, line: str) -> str:
        """Run runtime-API command(s) (``;``-separated) and return the answer."""
        import docker.errors

        container = self.container()
        if container is None:
            raise DeployError(f"the proxy container {self.name} is gone; run a deploy to create it again")
        script = f'printf "%s\\n" "$1" | socat -t 5 stdio UNIX-CONNECT:{SOCKET}'
        try:
            code, output = container.exec_run(["sh", "-c", script, "sh", line])
        except docker.errors.APIError as exc:
            raise DeployError(f"cannot reach the proxy {self.name}: {exc.explanation}") from exc
        text = output.decode(errors="replace") if isinstance(output, bytes) else str(output)
        if code != 0:
            raise DeployError(f"the proxy {self.name} did not answer {line.split()[0:3]}: {text.strip()}")
        return text

    def _set(self, *commands: str) -> None:
        answer = self.command("; ".join(commands))
        benign = ("IP changed", "no need to change", "port changed")
        bad = [line for line in answer.splitlines() if line.strip() and not line.startswith(benign)]
        if bad:
            raise DeployError(f"the proxy {self.name} refused a change: {bad[0]}")

    def slots(self) -> dict[str, SlotView]:
        """Both slots as HAProxy sees them now (asked again if an answer came back incomplete)."""
        for _attempt in range(3):
            views = self._slots()
            if views is not None:
                return views
            time.sleep(0.05)
        raise DeployError(f"the proxy {self.name} gave no complete view of its servers three times in a row")

    def _slots(self) -> dict[str, SlotView] | None:
        answer = self.command(f"show servers state {BACKEND}; show stat")
        states: dict[str, tuple[int, int]] = {}
        stats: dict[str, dict[str, str]] = {}
        standby: dict[str, int] = {}  # requests in flight on each slot's backup twin
        header: list[str] = []
        for line in answer.splitlines():
            fields = line.split()
            if len(fields) > 18 and fields[1] == BACKEND and fields[3] in SLOTS:  # show servers state
                states[fields[3]] = (int(fields[6]), int(fields[18]))
            elif line.startswith("# pxname,"):
                header = line[2:].split(",")
            elif header and line.startswith(f"{BACKEND},"):
                row = dict(zip(header, line.split(","), strict=False))
                if row.get("svname") in SLOTS:
                    stats[row["svname"]] = row
                for slot in SLOTS:
                    if row.get("svname") == backup(slot):
                        standby[slot] = _int(row.get("scur")) + _int(row.get("qcur"))
        if set(states) != set(SLOTS) or set(stats) != set(SLOTS):
            return None
        views: dict[str, SlotView] = {}
        for slot in SLOTS:
            admin, port = states.get(slot, (0x01, 0))
            row = stats.get(slot, {})
            status = row.get("status", "MAINT")
            mode = "maint" if admin & _MAINT_BITS or status.startswith("MAINT") else "serving"
            if mode == "serving" and admin & _DRAIN_BITS:
                mode = "drain"
            health, rise = _int(row.get("check_health")), _int(row.get("check_rise")) or self.rise
            up = mode != "maint" and not status.startswith("DOWN") and health >= rise
            check = " ".join(p for p in (row.get("check_status", ""), row.get("check_code", "")) if p)
            if row.get("last_chk") and not row.get("check_code"):
                check += f" {row['last_chk']}"
            responses = sum(_int(row.get(f"hrsp_{k}")) for k in ("1xx", "2xx", "3xx", "4xx", "5xx", "other"))
            views[slot] = SlotView(
                slot=slot,
                port=port,
                mode=mode,
                up=up,
                check=check.strip() or "not checked",
                current=_int(row.get("scur")) + _int(row.get("qcur")) + standby.get(slot, 0),
                responses=responses,
                errors_5xx=_int(row.get("hrsp_5xx")),
            )
        return views

    def serving(self) -> SlotView | None:
        """The slot taking new requests (None: nothing deployed yet)."""
        found = [view for view in self.slots().values() if view.mode == "serving"]
        return found[0] if found else None

    def stage(self, slot: str, port: int) -> None:
        """Point ``slot`` at ``127.0.0.1:port``, checked from DOWN (so it needs ``rise`` good checks), no traffic."""
        self._set(
            f"set server {BACKEND}/{slot} state maint",
            f"set server {BACKEND}/{slot} addr 127.0.0.1 port {port}",
            f"set server {BACKEND}/{slot} state drain",
            f"set server {BACKEND}/{slot} health down",
        )

    def switch(self, to: str, *, port: int, away: tuple[str, int] | None, standby: bool = True) -> None:
        """New requests go to slot ``to`` (on ``port``) from now on; ``away`` (slot, port), if any, only finishes
        what it has in flight, and its backup twin points at it, so it takes new requests again the moment
        HAProxy finds ``to`` down (``standby=False``: no stand-by). Then the config file is rewritten to match,
        for a restart."""
        commands = [f"set server {BACKEND}/{to} state ready", f"set server {BACKEND}/{backup(to)} state maint"]
        if away:
            commands.append(f"set server {BACKEND}/{away[0]} state drain")
            if standby and away[1]:
                twin = f"{BACKEND}/{backup(away[0])}"
                commands += [
                    f"set server {twin} state maint",
                    f"set server {twin} addr 127.0.0.1 port {away[1]}",
                    f"set server {twin} health up",  # it was serving a moment ago; its own checks go on
                    f"set server {twin} state ready",
                ]
        self._set(*commands)
        self.persist({to: (port, True)} | ({away[0]: (away[1] or 1, False)} if away else {}))

    def retire(self, slot: str) -> None:
        """Take ``slot`` out entirely (maintenance: no requests, no checks), and its backup twin with it."""
        self._set(f"set server {BACKEND}/{slot} state maint", f"set server {BACKEND}/{backup(slot)} state maint")

    def unback(self, slot: str) -> None:
        """The stand-by of ``slot`` stops taking new requests; what it has in flight finishes."""
        self._set(f"set server {BACKEND}/{backup(slot)} state drain")

    def persist(self, servers: dict[str, tuple[int, bool]]) -> None:
        """Write the config that brings the proxy back in this state after a restart of the container or engine."""
        container = self.container()
        if container is not None:
            container.put_archive("/", tar_files({CONFIG.lstrip("/"): self.config(servers).encode()}))

    def remove(self) -> bool:
        found = self.container()
        if found is None:
            return False
        found.remove(force=True)
        return True


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
