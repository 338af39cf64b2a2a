"""Imported last by the fork server of served flow runs: it prepares that process to fork.

The fork server only imports modules (``set_forkserver_preload``); importing this one runs
:func:`deployments.fork_server.prepare_fork_server` once everything else is loaded.
"""

from __future__ import annotations

from deployments.fork_server import prepare_fork_server

prepare_fork_server()
