"""Wall time and peak RSS of a whole process, and medians of alternated runs."""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class BenchError(RuntimeError):
    """A contender failed or produced something else than the case asks for."""


@dataclass(frozen=True)
class Sample:
    """One run of one contender."""

    wall_s: float
    peak_rss_mb: float
    info: dict[str, Any] = field(default_factory=dict)


def run_process(argv: list[str], env: dict[str, str], log: Path) -> Sample:
    """Run ``argv`` to its end; wall time, peak RSS (its own and its children's) and its JSON.

    A small launcher process starts ``argv`` and waits for it with os.wait4: a child forked
    straight from this (large) process would count this process's memory in its peak RSS.
    The last stdout line, when it is a JSON object, becomes ``info``; stderr goes to ``log``.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    stdout, usage_file = log.with_suffix(".out"), log.with_suffix(".usage")
    launcher = [sys.executable, "-S", "-c", _LAUNCHER, str(usage_file), *argv]
    with stdout.open("wb") as out, log.open("ab") as err:
        subprocess.run(launcher, stdout=out, stderr=err, env=env, check=False)
    usage = json.loads(usage_file.read_text())
    if usage["exit"] != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise BenchError(f"{argv[:4]} exited {usage['exit']}; {log}:\n{tail}")
    lines = stdout.read_text(errors="replace").strip().splitlines()
    info: dict[str, Any] = {}
    if lines and lines[-1].startswith("{"):
        info = json.loads(lines[-1])
    return Sample(usage["wall_s"], usage["maxrss_kb"] / 1024, info)  # KiB on Linux


# Runs without site-packages (-S): a few MB, so its fork adds nothing to the child's peak.
_LAUNCHER = """
import json, os, sys, time
start = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as fh:
    json.dump({"wall_s": wall, "maxrss_kb": usage.ru_maxrss,
               "exit": os.waitstatus_to_exitcode(status)}, fh)
"""


@dataclass
class Result:
    """Samples of one contender in one case."""

    contender: str
    samples: list[Sample] = field(default_factory=list)

    def median(self, pick: str) -> float:
        """Median of ``wall_s``, ``peak_rss_mb`` or a number in the samples' info."""
        values = [
            getattr(s, pick) if pick in ("wall_s", "peak_rss_mb") else float(s.info[pick])
            for s in self.samples
        ]
        return statistics.median(values)

    def spread(self, pick: str = "wall_s") -> tuple[float, float]:
        """(min, max) over the runs."""
        values = [getattr(s, pick) for s in self.samples]
        return min(values), max(values)

    def to_json(self) -> dict[str, Any]:
        """Every sample, for results.json."""
        return {
            "contender": self.contender,
            "samples": [
                {"wall_s": s.wall_s, "peak_rss_mb": s.peak_rss_mb, "info": s.info}
                for s in self.samples
            ],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Result:
        """The inverse of :meth:`to_json`."""
        samples = [Sample(s["wall_s"], s["peak_rss_mb"], s["info"]) for s in raw["samples"]]
        return cls(raw["contender"], samples)


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
