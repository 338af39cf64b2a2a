"""Served flow runs are forks of a warm fork server, not cold interpreters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.conftest import ROOT

# Run in a child process: use_warm_flow_processes changes prefect.flow_engine for good.
DRIVER = textwrap.dedent(
    """
    import json, sys
    from deployments.flow_processes import use_warm_flow_processes
    preload = ("tests.deployments.warm_probe", "polars", "deployments.fork_preload")
    context = use_warm_flow_processes(preload)
    from prefect.flow_engine import run_flow_in_subprocess
    from tests.deployments.warm_probe import probe
    process = run_flow_in_subprocess(probe, parameters={"out": sys.argv[1]})
    process.join(120)
    print(json.dumps({"kind": type(process).__name__, "exitcode": process.exitcode,
                      "context": type(context).__name__, "driver": __import__("os").getpid()}))
    """
)


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a new interpreter of this project (it changes Prefect for good); it must
    succeed."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_prefect_runs_a_flow_in_a_fork_of_the_preloaded_server(prefect_server, tmp_path) -> None:
    out = tmp_path / "facts.json"
    done = _python(DRIVER, str(out))
    started = json.loads(done.stdout.strip().splitlines()[-1])
    assert started["context"] == "ForkServerContext"
    assert started["kind"] == "ForkServerProcess" and started["exitcode"] == 0
    facts = json.loads(out.read_text())
    # The flow's module was imported once, by the fork server the run was forked from.
    assert facts["imported_in"] == facts["ppid"] != facts["pid"]
    assert facts["ppid"] != started["driver"]
    assert facts["polars_loaded"]
    # The fork server was prepared before it forked: what it imported is out of the
    # collector's reach, and the run does not wait on Prefect's suspension watch.
    assert facts["frozen_objects"] > 50_000
    assert facts["suspension_watch"] == "deployments.fork_server"
    # Prefect's clients in the run share the fork server's TLS context (still verifying),
    # and the rest of the process keeps the ssl module as it is.
    assert facts["tls_stand_in"] == "_SharedTLSContexts"
    assert facts["tls_shared"] and facts["tls_verifies"] and facts["global_ssl_untouched"]
    # Pydantic models that build on first use were built by the fork server.
    assert facts["unused_model_built"]


VERSION_CHECK = textwrap.dedent(
    """
    import os, prefect
    from prefect._internal import version_checking
    from deployments.fork_server import _check_server_version_once
    url = os.environ["PREFECT_API_URL"]
    key = version_checking._api_version_check_key(url, prefect.__version__)
    before = version_checking._is_api_version_check_cached(key)
    _check_server_version_once()
    print(before, version_checking._is_api_version_check_cached(key))
    """
)


def test_the_fork_server_checks_the_prefect_server_version_for_its_runs(prefect_server) -> None:
    done = _python(VERSION_CHECK)
    assert done.stdout.split() == ["False", "True"], "checked once, before any run forks"


def _children(pid: int) -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append((int(entry.name), cmdline))
    return found


def test_served_exports_run_in_forks_of_the_preloaded_server(stack) -> None:
    """A served export runs in a child of the fork server, never as ``prefect.engine``."""
    servers = [(pid, cmd) for pid, cmd in _children(stack.serve_pid) if "forkserver" in cmd]
    assert len(servers) == 1, _children(stack.serve_pid)
    server_pid, server_cmd = servers[0]
    assert "flows.export_report" in server_cmd
    client = stack.client("acme", "admin", "vh")
    body = {"report_type": "full-v21", "format": "pdf", "env": "live"}
    created = client.post(
        "/api/reports/exports", json=body | {"from": "2025-10-01", "to": "2025-12-31"}
    )
    assert created.status_code == 201, created.text
    forked: set[int] = set()
    cold: list[str] = []
    deadline = time.monotonic() + 240
    status = "queued"
    while status not in ("succeeded", "failed", "cancelled") and time.monotonic() < deadline:
        forked |= {pid for pid, _cmd in _children(server_pid)}
        cold += [cmd for _pid, cmd in _children(stack.serve_pid) if "-m prefect.engine" in cmd]
        status = client.get(f"/api/reports/exports/{created.json()['id']}").json()["status"]
        time.sleep(0.02)
    assert status == "succeeded"
    assert forked, "no flow-run process was forked from the fork server"
    assert not cold, f"a flow run started as a new interpreter: {cold[:1]}"


SETTINGS_CACHE = textwrap.dedent(
    """
    import json, time
    from prefect.context import SettingsContext
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings
    from deployments.flow_processes import remember_settings_serialisation

    def both():
        return (get_current_settings().to_environment_variables(exclude_unset=True),
                SettingsContext.get().serialize())
    before = both()
    remember_settings_serialisation()
    first, second = both(), both()
    second[0]["PREFECT_API_URL"] = "mutated by a caller"  # answers are copies
    with temporary_settings({PREFECT_API_URL: "http://elsewhere:1/api"}):
        changed = both()
    start = time.perf_counter()
    for _ in range(20):
        both()
    per_run = (time.perf_counter() - start) / 20
    print(json.dumps({"same": before == first == both(), "changed_url":
                      changed[0].get("PREFECT_API_URL"), "per_run_ms": per_run * 1000}))
    """
)


def test_the_runner_serialises_unchanged_settings_once(prefect_server) -> None:
    done = _python(SETTINGS_CACHE)
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts["same"], "the remembered serialisation is the one Prefect makes"
    assert facts["changed_url"] == "http://elsewhere:1/api", "new settings are serialised anew"
    print(f"settings for a run: {facts['per_run_ms']:.2f} ms")
