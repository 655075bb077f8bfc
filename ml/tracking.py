"""MLflow tracking and model registry on an embedded SQLite backend (no server).

Conventions (see DESIGN.md): the tracking and registry URI is
``sqlite:///$ALPHADAG_HOME/mlflow/mlflow.db``, artifacts go to a local folder, and the
registry uses the aliases ``champion`` (the model in use) and ``challenger`` (the
latest candidate). Promotion from challenger to champion is the gate's decision
(``ml.gate``); registering never demotes a champion. Models are logged as pyfunc
models wrapping the project's own scorer (one booster, or a rank-average ensemble).

Re-running the same training on the same data must not register a duplicate version:
every version carries a ``fingerprint`` tag (a hash of data, features and parameters
computed by the caller), ``find_model_version`` looks it up, and
``log_and_register`` returns the existing version when the fingerprint is already
registered.

Registration takes three writes (log the run, create the version, set its alias), and a
process can be killed between any two. A run without a version is ignored (the next
call logs a new one). A version is created with ``registration=pending`` and marked
``complete`` only once its alias is set, so a version found by its fingerprint whose
registration was cut short gets its alias then (``finish_registration``), exactly as
if the first call had completed, instead of being reused without one.

``mlflow`` costs over a second to import and writes progress chatter to stderr, so it
is imported inside the functions and its INFO output is muted while they run.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "FINGERPRINT_TAG",
    "RegisteredModel",
    "configure_mlflow",
    "describe_version",
    "find_model_version",
    "finish_registration",
    "flatten_params",
    "get_alias_version",
    "list_versions",
    "load_model",
    "log_and_register",
    "model_uri",
    "model_version_info",
    "open_store_read_only",
    "record_on_version",
    "run_params",
    "set_alias",
    "version_tags",
]

CHAMPION = "champion"
CHALLENGER = "challenger"
FINGERPRINT_TAG = "fingerprint"
REGISTRATION_TAG = "registration"
MODEL_ARTIFACT_NAME = "model"


@dataclass
class RegisteredModel:
    """A registered model version; ``alias`` is the alias it holds (None if none)."""

    name: str
    version: str
    run_id: str
    alias: str | None


class _DropHarmlessWarnings(logging.Filter):
    # Passing explicit pip requirements still makes MLflow look up pip's own version
    # for conda.yaml; in environments without pip (uv-managed) it warns on every
    # model it logs. The model is unaffected.
    def filter(self, record: logging.LogRecord) -> bool:
        return "Failed to resolve installed pip version" not in record.getMessage()


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """Mute MLflow's INFO chatter (database migrations, "Created version ...") for the
    duration of a call, keeping its real warnings and errors."""
    logger = logging.getLogger("mlflow")
    previous = logger.level
    drop = _DropHarmlessWarnings()
    logger.setLevel(logging.WARNING)
    env_logger = logging.getLogger("mlflow.utils.environment")
    env_logger.addFilter(drop)
    try:
        yield
    finally:
        env_logger.removeFilter(drop)
        logger.setLevel(previous)


def _client() -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient()


def _error_code(exc: Exception) -> str | None:
    return getattr(exc, "error_code", None)


def configure_mlflow(tracking_uri: str, artifact_root: Path, experiment: str = "alphadag") -> str:
    """Point MLflow (tracking and registry) at ``tracking_uri`` and select the experiment.

    Creates the SQLite file's folder and ``artifact_root`` if needed, creates the
    experiment with ``artifact_root`` as its artifact location when it does not exist
    (an existing experiment keeps its location: MLflow cannot move it), restores it if
    it was deleted, makes it the active experiment and returns its id. Safe to call
    repeatedly (each asset run calls it).
    """
    import mlflow

    artifact_root = Path(artifact_root).expanduser().resolve()
    artifact_root.mkdir(parents=True, exist_ok=True)
    if tracking_uri.startswith("sqlite:///"):
        _create_sqlite_store(Path(tracking_uri.removeprefix("sqlite:///")), artifact_root)

    with _quiet_mlflow():
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        client = _client()
        found = client.get_experiment_by_name(experiment)
        if found is None:
            try:
                experiment_id = client.create_experiment(
                    experiment, artifact_location=artifact_root.as_uri()
                )
            except mlflow.exceptions.MlflowException as exc:
                if _error_code(exc) != "RESOURCE_ALREADY_EXISTS":
                    raise
                experiment_id = client.get_experiment_by_name(experiment).experiment_id
        else:
            experiment_id = found.experiment_id
            if found.lifecycle_stage == "deleted":
                client.restore_experiment(experiment_id)
        mlflow.set_experiment(experiment_id=experiment_id)
    return str(experiment_id)


def _create_sqlite_store(path: Path, artifact_root: Path) -> None:
    """Create MLflow's SQLite database if it does not exist, all at once.

    MLflow builds its schema with a few dozen migrations on first use; a process killed
    among them leaves a file on which every later run fails ("table ... already exists").
    The schema is built in a temporary file, under a lock (runs may start together), and
    renamed into place.
    """
    if path.exists():
        return
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name(f".{path.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        if path.exists():
            return
        staged = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        staged.unlink(missing_ok=True)
        with _quiet_mlflow():
            store = SqlAlchemyStore(f"sqlite:///{staged}", artifact_root.as_uri())
            store.engine.dispose()
        os.replace(staged, path)


def _versions(client: MlflowClient, model_name: str) -> list[Any]:
    """All versions of a registered model (empty when the model does not exist)."""
    quote = '"' if "'" in model_name else "'"
    out: list[Any] = []
    token: str | None = None
    while True:
        page = client.search_model_versions(f"name = {quote}{model_name}{quote}", page_token=token)
        out.extend(v for v in page if v.name == model_name)
        token = page.token
        if not token:
            return out


def find_model_version(model_name: str, fingerprint: str) -> str | None:
    """The version of ``model_name`` tagged with ``fingerprint``, or None.

    The tag is matched in Python rather than in the search filter, so fingerprints
    need no quoting rules. If several versions carry it (registered by hand), the
    oldest one wins, which keeps the answer stable.
    """
    with _quiet_mlflow():
        matches = [
            int(v.version)
            for v in _versions(_client(), model_name)
            if v.tags.get(FINGERPRINT_TAG) == fingerprint
        ]
    return str(min(matches)) if matches else None


def get_alias_version(model_name: str, alias: str) -> str | None:
    """The version an alias points to, or None when the model or the alias is missing."""
    import mlflow

    with _quiet_mlflow():
        try:
            registered = _client().get_registered_model(model_name)
        except mlflow.exceptions.MlflowException as exc:
            if _error_code(exc) == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
    version = registered.aliases.get(alias)
    return None if version is None else str(version)


def model_version_info(model_name: str, version: str) -> RegisteredModel:
    """Describe an existing version (run id and alias) as a ``RegisteredModel``.

    Used when a fingerprint is already registered and the version is reused. The alias
    is ``champion`` or ``challenger`` when the version holds one of them (champion
    first), else any other alias it holds, else None.
    """
    with _quiet_mlflow():
        found = _client().get_model_version(model_name, str(version))
    aliases = list(found.aliases or [])
    alias = next((a for a in (CHAMPION, CHALLENGER) if a in aliases), None)
    if alias is None and aliases:
        alias = sorted(aliases)[0]
    return RegisteredModel(model_name, str(found.version), found.run_id or "", alias)


def _pip_requirements() -> list[str]:
    return [
        f"{package}=={metadata.version(package)}"
        for package in ("mlflow", "lightgbm", "xgboost-cpu", "numpy", "pandas")
    ]


def _pyfunc_wrapper(model: Any) -> Any:
    """An ``mlflow.pyfunc.PythonModel`` around any object with ``predict(frame)``.

    The class is built here so that importing this module does not import mlflow; it is
    pickled by value with the model it wraps.
    """
    import mlflow.pyfunc

    class ScoringModel(mlflow.pyfunc.PythonModel):
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
            return self.inner.predict(model_input)

    return ScoringModel(model)


def log_and_register(
    model: Any,
    *,
    model_name: str,
    fingerprint: str,
    params: dict,
    metrics: dict[str, float],
    tags: dict[str, str],
    input_example: pd.DataFrame,
    tables: dict[str, pd.DataFrame] | None = None,
    child_runs: dict[str, tuple[dict, dict[str, float], pd.DataFrame]] | None = None,
) -> RegisteredModel:
    """Log ``model`` (any object with ``predict(frame)``) as a pyfunc in a new run and
    register it as a new version of ``model_name``.

    The run gets ``params``, ``metrics``, ``tags`` (plus the fingerprint), each of
    ``tables`` as a CSV artifact, and a nested run per entry of ``child_runs`` (name ->
    params, metrics, trials table): one per Optuna study. The model carries a signature
    inferred from ``input_example``. The version gets the fingerprint and ``tags`` as
    version tags, set atomically when it is created, so ``find_model_version`` never sees
    a half-tagged version. It becomes ``champion`` when the model has none yet, otherwise
    ``challenger`` (moving that alias from any older candidate); only the promotion gate
    moves ``champion`` after that.

    Idempotent: a fingerprint already registered returns that version, logging nothing.
    """
    import mlflow
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    existing = find_model_version(model_name, fingerprint)
    if existing is not None:
        return finish_registration(model_name, existing)

    version_tags = {**{k: str(v) for k, v in tags.items()}, FINGERPRINT_TAG: fingerprint}
    signature = infer_signature(input_example, model.predict(input_example))
    with _quiet_mlflow():
        client = _client()
        nested = mlflow.active_run() is not None
        with mlflow.start_run(nested=nested) as run:
            mlflow.set_tags(version_tags)
            if params:
                mlflow.log_params(params)
            if metrics:
                mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
            for name, table in (tables or {}).items():
                mlflow.log_text(table.to_csv(index=False), f"{name}.csv")
            for name, (child_params, child_metrics, trials) in (child_runs or {}).items():
                with mlflow.start_run(run_name=name, nested=True):
                    mlflow.log_params(child_params)
                    mlflow.log_metrics({k: float(v) for k, v in child_metrics.items()})
                    mlflow.log_text(trials.to_csv(index=False), "trials.csv")
            info = mlflow.pyfunc.log_model(
                name=MODEL_ARTIFACT_NAME,
                python_model=_pyfunc_wrapper(model),
                signature=signature,
                pip_requirements=_pip_requirements(),
            )
        try:
            client.create_registered_model(model_name)
        except mlflow.exceptions.MlflowException as exc:
            if _error_code(exc) != "RESOURCE_ALREADY_EXISTS":
                raise
        created = client.create_model_version(
            name=model_name,
            source=info.model_uri,
            run_id=run.info.run_id,
            tags={**version_tags, REGISTRATION_TAG: "pending"},
            model_id=info.model_id,
        )
    return finish_registration(model_name, str(created.version))


def finish_registration(model_name: str, version: str) -> RegisteredModel:
    """Give a version whose registration is pending its alias, then describe it.

    The alias is ``champion`` if the model has none yet, otherwise ``challenger``
    (moving it from any older candidate). A completed version (or one registered
    before this tag existed) is only described: its alias may since have moved on.
    """
    with _quiet_mlflow():
        client = _client()
        found = client.get_model_version(model_name, str(version))
        if found.tags.get(REGISTRATION_TAG) == "pending":
            alias = CHAMPION if get_alias_version(model_name, CHAMPION) is None else CHALLENGER
            client.set_registered_model_alias(model_name, alias, str(version))
            client.set_model_version_tag(model_name, str(version), REGISTRATION_TAG, "complete")
    return model_version_info(model_name, version)


def set_alias(model_name: str, alias: str, version: str) -> None:
    """Point ``alias`` at ``version`` (moving it from any other version)."""
    with _quiet_mlflow():
        _client().set_registered_model_alias(model_name, alias, str(version))


def record_on_version(
    model_name: str, version: str, tags: dict[str, str], metrics: dict[str, float] | None = None
) -> None:
    """Tags on a model version and on its run, and metrics on its run (gate decisions,
    backtest headline numbers): every number about a version lives on its one run."""
    with _quiet_mlflow():
        client = _client()
        found = client.get_model_version(model_name, str(version))
        for key, value in tags.items():
            client.set_model_version_tag(model_name, str(version), key, str(value))
            if found.run_id:
                client.set_tag(found.run_id, key, str(value))
        for key, value in (metrics or {}).items():
            if found.run_id:
                client.log_metric(found.run_id, key, float(value))


def flatten_params(nested: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``{family: {param: value}}`` as MLflow params ``family.param`` (a run's params are
    flat)."""
    return {f"{family}.{key}": value for family, p in nested.items() for key, value in p.items()}


def _parse_param(text: str) -> Any:
    """MLflow stores a param as ``str(value)``: an int, a float (``repr`` round-trips) or
    a string such as an objective's name."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def run_params(run_id: str) -> dict[str, dict[str, Any]]:
    """The ``family.param`` params of a run (see ``flatten_params``) as
    ``{family: {param: value}}``, numbers parsed back from MLflow's strings."""
    with _quiet_mlflow():
        flat = _client().get_run(run_id).data.params
    nested: dict[str, dict[str, Any]] = {}
    for name, text in flat.items():
        family, dot, key = name.partition(".")
        if dot:
            nested.setdefault(family, {})[key] = _parse_param(text)
    return nested


def version_tags(model_name: str, version: str) -> dict[str, str]:
    with _quiet_mlflow():
        return dict(_client().get_model_version(model_name, str(version)).tags)


def model_uri(model_name: str, alias_or_version: str) -> str:
    """``models:/name/<version>`` for digits (or ``latest``), ``models:/name@alias`` else."""
    ref = str(alias_or_version)
    if ref.isdigit() or ref == "latest":
        return f"models:/{model_name}/{ref}"
    return f"models:/{model_name}@{ref}"


def load_model(model_name: str, alias_or_version: str) -> Any:
    """Load a registered model by alias (``champion``) or version (``"3"``): the object
    that was logged (``predict(frame)``), not MLflow's wrapper around it."""
    import mlflow.pyfunc

    with _quiet_mlflow():
        loaded = mlflow.pyfunc.load_model(model_uri(model_name, alias_or_version))
    return loaded.unwrap_python_model().inner


def open_store_read_only(tracking_uri: str) -> None:
    """Point MLflow at an existing store to read it: unlike ``configure_mlflow`` this
    creates nothing (no database file, experiment or artifact folder).

    Raises:
        FileNotFoundError: when ``tracking_uri`` is a SQLite file that does not exist.
    """
    import mlflow

    if tracking_uri.startswith("sqlite:///"):
        path = Path(tracking_uri.removeprefix("sqlite:///"))
        if not path.exists():
            raise FileNotFoundError(f"no MLflow store at {path}")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)


def list_versions(model_name: str) -> list[str]:
    """Every version of ``model_name``, oldest first (empty when it is not registered)."""
    with _quiet_mlflow():
        return sorted((str(v.version) for v in _versions(_client(), model_name)), key=int)


def describe_version(model_name: str, version: str) -> dict[str, Any]:
    """A registered version and the run that logged it, as plain data: the version's
    aliases, tags and creation time, and the run's status, start, tags and metrics
    (MLflow's own ``mlflow.*`` tags left out).

    Raises:
        LookupError: when the model or the version does not exist.
    """
    import mlflow

    with _quiet_mlflow():
        client = _client()
        try:
            found = client.get_model_version(model_name, str(version))
        except mlflow.exceptions.MlflowException as exc:
            raise LookupError(f"no registered version {model_name} v{version}") from exc
        run = client.get_run(found.run_id) if found.run_id else None
    described: dict[str, Any] = {
        "name": model_name,
        "version": str(found.version),
        "aliases": sorted(found.aliases or []),
        "created_at": _utc(found.creation_timestamp),
        "tags": dict(found.tags),
        "run": None,
    }
    if run is not None:
        described["run"] = {
            "run_id": run.info.run_id,
            "run_name": run.info.run_name,
            "status": run.info.status,
            "started_at": _utc(run.info.start_time),
            "experiment_id": run.info.experiment_id,
            "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
            "metrics": dict(run.data.metrics),
        }
    return described


def _utc(milliseconds: int | None) -> str | None:
    """An MLflow timestamp (ms since the epoch) as ISO 8601 in UTC."""
    if milliseconds is None:
        return None
    stamp = pd.Timestamp(milliseconds, unit="ms", tz="UTC")
    return stamp.isoformat(timespec="seconds")
