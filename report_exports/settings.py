"""The one place settings are read: environment variables prefixed ``REPORT_EXPORTS_``.

Every field has a default that needs no set-up: all state lives under ``var_dir``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Runtime configuration; read once per process with :func:`get_settings`."""

    model_config = SettingsConfigDict(env_prefix="REPORT_EXPORTS_", extra="ignore")

    enabled: bool = Field(True, description="Feature flag of the VerifyHuman seed.")
    var_dir: Path = Field(
        PROJECT_ROOT / "var", description="Directory that holds every piece of local state."
    )
    database_url: str = Field(
        "", description="Job store SQLAlchemy URL; empty means SQLite at var/jobs.db."
    )
    source_url: str = Field(
        "", description="Source data SQLAlchemy URL; empty means the demo SQLite at var/demo.db."
    )
    storage_url: str = Field(
        "", description="Where parts and files go (local path or s3://); empty means var/files."
    )
    s3_endpoint_url: str = Field(
        "",
        description="S3 API endpoint for s3:// storage (MinIO, SeaweedFS...); empty means AWS.",
    )
    s3_access_key_id: str = Field(
        "",
        description="Access key for s3:// storage; empty means the standard AWS credential chain.",
    )
    s3_secret_access_key: SecretStr = Field(
        SecretStr(""), description="Secret key that goes with s3_access_key_id."
    )
    s3_region: str = Field(
        "us-east-1", description="Region of the bucket; presigned URLs are signed (SigV4) for it."
    )
    source_reader: str = Field(
        "auto",
        description="How chunks are read: auto (CSV parts of PostgreSQL by COPY, else ADBC for "
        "SQLite and PostgreSQL), adbc or sqlalchemy.",
    )
    chunk_rows: int = Field(250_000, ge=1, description="Target rows per extracted chunk.")
    chunk_workers: int = Field(2, ge=1, description="Threads that extract chunks in parallel.")
    plan_sample_above_rows: int = Field(
        500_000,
        ge=0,
        description="PostgreSQL tables with more rows are planned from a block sample of "
        "rows per day instead of a count of every row (0: always count).",
    )
    extract_retries: int = Field(3, ge=0, description="Retries of a chunk on transient errors.")
    extract_retry_delay_seconds: float = Field(
        1.0, ge=0, description="Base of the exponential backoff between chunk retries."
    )
    pdf_table_rows: int = Field(
        50, ge=1, le=2000, description="Most rows a PDF table shows (PDFs are summaries)."
    )
    xlsx_max_rows_per_sheet: int = Field(
        1_048_576, ge=2, le=1_048_576, description="Rows per sheet, header included."
    )
    retention_hours: float = Field(24.0, gt=0, description="How long a published file is kept.")
    download_ttl_seconds: int = Field(
        3600, ge=1, description="How long a download URL is valid (never past retention)."
    )
    download_secret: str = Field(
        "", description="HMAC key of download URLs; empty means a random key kept in var/."
    )
    ui_session_hours: float = Field(
        8, gt=0, description="How long a sign-in to the page (/ui/) lasts before it ends."
    )
    ui_sign_in_limit: int = Field(
        10, ge=1, description="Sign-in attempts one client address may make per window."
    )
    ui_sign_in_window_seconds: float = Field(
        60, gt=0, description="The window of ui_sign_in_limit, in seconds."
    )
    prefect_ui_url: str = Field(
        "",
        description="Where admins open flow runs in the Prefect UI; empty means the Prefect "
        "API URL without /api.",
    )
    dedupe_window_seconds: int = Field(
        600, ge=0, description="HiEnergy: an identical completed export is reused this long."
    )
    idempotency_key_hours: int = Field(
        24, ge=1, description="How long an Idempotency-Key and its answer are kept for replay."
    )
    api_host: str = Field("127.0.0.1", description="Address the API listens on.")
    api_port: int = Field(8000, description="Port the API listens on.")
    public_base_url: str = Field(
        "", description="Base URL clients reach the API at; empty means http://api_host:api_port."
    )
    max_body_bytes: int = Field(65_536, ge=1024, description="Largest request body accepted.")
    serve_limit: int = Field(8, ge=1, description="Export flow runs served at once.")
    runner_poll_seconds: float = Field(
        0.2, ge=0.1, description="How often the served deployments look for new runs."
    )
    account_concurrency: int = Field(
        2,
        ge=0,
        description="Most exports of one account running at once on the work pool (0: no limit).",
    )
    crash_after_seconds: int = Field(
        75,
        ge=45,  # flow runs beat every 30 s (prefect.yaml; Prefect's minimum)
        description="A running flow run without a heartbeat this long is marked Crashed.",
    )
    launch_deadline_seconds: float = Field(
        300,
        gt=0,
        description="A job whose flow run could not be created for this long (and "
        'launch_min_attempts times) fails ("could not start") instead of waiting for ever.',
    )
    launch_min_attempts: int = Field(
        8,
        ge=1,
        description="Attempts to create a job's flow run before it may fail (with the "
        "backoff, 8 attempts take over a minute of refusals).",
    )
    launches_in_flight: int = Field(
        16,
        ge=1,
        description="Most jobs launched on the Prefect server and not yet finished; the rest "
        "wait queued in the outbox, so a burst does not flood the server's database.",
    )
    launch_lease_seconds: float = Field(
        30, gt=0, description="How long a launcher holds a job it is launching."
    )
    schedules_per_account: int = Field(
        50, ge=0, description="Most recurring-export schedules one account may have."
    )
    reconcile_seconds: int = Field(
        30, ge=5, description="How often the reconcile-exports flow brings jobs and runs in step."
    )
    job_heartbeat_seconds: float = Field(
        10, gt=0, description="How often a running export says on its job row that it is alive."
    )
    job_stale_after_seconds: float = Field(
        90,
        gt=0,
        description="A running job silent this long is failed (its run crashed) by the reconciler.",
    )
    local_start_grace_seconds: float = Field(
        600, gt=0, description="A CLI job that has not started after this long is failed."
    )
    failpoint_dir: Path | None = Field(
        None, description="Chaos tests only: a failpoint is armed by a file of its name here."
    )
    task_runner: str = Field(
        "threads", pattern="^(threads|dask)$", description="How chunks run: threads or dask."
    )
    dask_address: str = Field(
        "", description="Dask scheduler for task_runner=dask; empty starts a local cluster."
    )
    dask_workers: int = Field(2, ge=1, description="Processes of the local Dask cluster.")
    catalog_modules: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="More report catalogs to load: Python modules, each with a REPORTS tuple "
        "(comma-separated, e.g. acme_reports); the built-in catalogs always load.",
    )
    surface_modules: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="More surfaces to serve: Python modules, each with a SURFACE "
        "(comma-separated); the three built-in surfaces always load.",
    )
    webhook_allow_http_loopback: bool = Field(
        False,
        description="Webhook endpoints may be http:// to a loopback host (tests, local "
        "development); otherwise only https:// is accepted.",
    )
    webhook_allow_private_targets: bool = Field(
        False,
        description="Webhook endpoints may resolve to private, loopback, link-local or "
        "metadata addresses (never by default: no SSRF through webhooks).",
    )
    webhook_timeout_seconds: float = Field(
        10, gt=0, le=60, description="How long one webhook delivery attempt may take."
    )
    webhook_retry_base_seconds: float = Field(
        30, gt=0, description="First retry delay of a failed webhook delivery (doubles each time)."
    )
    webhook_retry_max_delay_seconds: float = Field(
        3600, gt=0, description="Longest wait between two attempts of one webhook delivery."
    )
    webhook_retry_for_seconds: float = Field(
        86_400, gt=0, description="How long a webhook delivery is retried before it is given up."
    )
    webhook_disable_after_seconds: float = Field(
        86_400,
        gt=0,
        description="An endpoint whose deliveries have all failed this long is disabled.",
    )
    webhook_secret_overlap_seconds: int = Field(
        86_400,
        ge=0,
        description="After a secret rotation the old secret also signs deliveries this long.",
    )
    webhook_sweep_seconds: int = Field(
        60, ge=5, description="Period of the deliver-webhooks flow's safety-net schedule."
    )
    demo_rows: int = Field(20_000, ge=1, description="Verification events in the demo source.")
    prefect_port: int = Field(4200, description="Port of the local Prefect server we start.")
    prefect_database_url: str = Field(
        "",
        description="Database of the Prefect server we start: empty is SQLite in PREFECT_HOME; "
        "a postgresql:// URL does not lock under bursts of runs (SQLite does).",
    )
    prefect_api_url: str = Field(
        "",
        validation_alias="PREFECT_API_URL",
        description="An existing Prefect server to use; empty means we start one on prefect_port.",
    )

    @field_validator("catalog_modules", "surface_modules", mode="before")
    @classmethod
    def _module_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @model_validator(mode="after")
    def _fill_paths(self) -> Settings:
        self.var_dir = self.var_dir.resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.var_dir / 'jobs.db'}"
        if not self.source_url:
            self.source_url = f"sqlite:///{self.var_dir / 'demo.db'}"
        if not self.storage_url:
            self.storage_url = str(self.var_dir / "files")
        return self

    @property
    def base_url(self) -> str:
        """Where clients reach the API (used in absolute URLs)."""
        return (self.public_base_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    @property
    def tmp_dir(self) -> Path:
        """Scratch space for files being rendered before publication."""
        return self.var_dir / "tmp"

    @property
    def prefect_home(self) -> Path:
        """PREFECT_HOME for every process we start: inside var/, never the user's home."""
        return self.var_dir / "prefect"

    @property
    def runner_socket(self) -> Path:
        """Where the served runner listens for "a run was just created: look now"."""
        return self.var_dir / "serve.sock"

    @property
    def store_tag(self) -> str:
        """A tag naming this job store and file storage (a digest, not the URLs).

        The served export deployment carries it, so a process that hands a job to a stack
        (the CLI) can tell that the stack reads the same job store and writes the same
        storage as itself: a run only knows its job by id.
        """
        import hashlib

        digest = hashlib.sha256(f"{self.database_url}\n{self.storage_url}".encode()).hexdigest()
        return f"job-store:{digest[:16]}"


def prefect_database_connection_url(url: str) -> str:
    """A PostgreSQL URL as the Prefect server's asyncpg engine takes it (others unchanged)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return url
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (call ``get_settings.cache_clear()`` after changing env)."""
    return Settings()
