"""What the dashboard's buttons do, without Streamlit: which database, LLM estimates and policies,
run archives for download and upload, and fitting the chosen models.

The pages wrap these functions in Streamlit caches; everything here is plain Python and can be
tested (and reused from a notebook) on its own.
"""

from __future__ import annotations

import io
import tempfile
import threading
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spreadlab import memory
from spreadlab.analysis.curves import Curves
from spreadlab.analysis.fit import FitResult, fit_each
from spreadlab.engine.policy import Policy
from spreadlab.engine.simulate import Scenario
from spreadlab.engine.stochastic import ParameterTable
from spreadlab.errors import ConfigError, DataFormatError, FitError, SpreadLabError
from spreadlab.jobs.policies import open_policy, scenario_estimate
from spreadlab.jobs.samples import sample_database
from spreadlab.llm import LLMConfig, RunEstimate
from spreadlab.settings import current as current_settings
from spreadlab.store.exchange import export_run, import_run
from spreadlab.store.runs import RunStore

if TYPE_CHECKING:
    from spreadlab.analysis.methods import CIMethod, Method

MAX_UPLOAD_FILES = 20
_SAMPLES_LOADING = threading.Lock()


MAX_UNPACKED_BYTES = 2 * 1024**3  # a zip that would unpack to more is refused before unpacking


def database_path() -> Path:
    """The dashboard's DuckDB file: ``$SPREADLAB_DB`` as it is, else ``spreadlab.duckdb`` with
    the bundled sample runs loaded into it (see :func:`spreadlab.jobs.samples.sample_database`;
    one thread at a time, since ``spreadlab dashboard`` may be loading them when a page asks)."""
    given = current_settings()
    if given.db_from_env:
        return given.database()
    with _SAMPLES_LOADING:
        return sample_database()


def llm_estimate(scenario: Scenario, settings: Mapping[str, Any]) -> RunEstimate:
    """Upper bounds on the calls, tokens and cost of running ``scenario`` with an LLM."""
    return scenario_estimate(LLMConfig.from_env(**settings), scenario)


@contextmanager
def llm_policy(
    store: RunStore, scenario: Scenario, settings: Mapping[str, Any]
) -> Iterator[Policy]:
    """An LLM policy whose endpoint has been checked (it answers, takes the key, serves the
    model) before anything is written; a replay from the cache makes no request at all."""
    with open_policy("llm", store, ParameterTable.illustrative(), [scenario], dict(settings)) as p:
        yield p


def run_archive(store: RunStore, run_id: str, fmt: str = "csv") -> bytes:
    """A zip of the run folder written by :func:`spreadlab.store.exchange.export_run`."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = export_run(store, run_id, Path(tmp), fmt=fmt)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.iterdir()):
                archive.write(path, f"{run_id}/{path.name}")
    return buffer.getvalue()


def import_archive(store: RunStore, data: bytes, name: str, run_id: str = "") -> str:
    """Import a zipped run folder (as made by :func:`run_archive`), under ``run_id`` if given;
    return the new run id.

    The archive is fully validated before anything is written, and the run is written in one
    transaction, so a bad file leaves the database unchanged.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise DataFormatError(
            f"{name} is not a zip archive: upload the .zip of a run folder, as downloaded from "
            "the Export page or made with 'spreadlab export'"
        ) from None
    with archive, tempfile.TemporaryDirectory() as tmp:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_UPLOAD_FILES:
            raise DataFormatError(f"{name} holds {len(members)} files; a run folder has at most 6")
        unpacked = sum(m.file_size for m in members)
        if unpacked > min(MAX_UNPACKED_BYTES, memory.available_bytes()):
            raise DataFormatError(
                f"{name} would unpack to {unpacked / memory.GB:.1f} GB, more than this machine "
                "can take; import the run folder with 'spreadlab import' instead"
            )
        root = Path(tmp).resolve()
        for member in members:
            target = (root / member.filename).resolve()
            if not target.is_relative_to(root):
                raise DataFormatError(f"{name}: unsafe path {member.filename!r} in the archive")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(member))
        found = sorted(p.parent for p in root.rglob("run.json"))
        if len(found) != 1:
            raise DataFormatError(
                f"{name} must hold exactly one run folder with a run.json (found {len(found)}); "
                "zip one exported run folder"
            )
        try:
            return import_run(store, found[0], run_id or None)
        except SpreadLabError as exc:  # name the upload, not the server's temporary folder
            exc.args = (str(exc).replace(str(found[0]), name).replace(str(root), name),)
            raise


def fit_collecting_failures(
    data: Curves,
    models: list[str],
    *,
    method: Method = "binomial",
    ci: CIMethod = "auto",
) -> tuple[dict[str, FitResult], dict[str, str]]:
    """Fit each model to a run or a group of replicate runs, keeping the models that fit (unlike
    the all-or-nothing :func:`spreadlab.store.fits.fit_group`; see
    :func:`spreadlab.analysis.fit.fit_each`).

    Returns the fits and, per model that cannot be fitted to these data, the reason (e.g. SI-1
    cannot explain a replicate in which nobody posted in round 0). Raises when no model is chosen
    or none can be fitted.
    """
    if not models:
        raise ConfigError("choose at least one model to fit")
    fits, failures = fit_each(data, models, method=method, ci=ci)
    if not fits:
        reasons = sorted(set(failures.values()))
        raise FitError("no model could be fitted: " + " / ".join(reasons))
    return fits, failures
