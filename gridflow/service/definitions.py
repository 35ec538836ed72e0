"""The workflows and the org directory in force, and every stored revision (service ring).

Loading a workflow file stores its text as a new revision when it is new; running cases keep
the revision they started on, compiled once and cached here. The org directory is the one
given to the engine, else the one stored by ``gridflow org load``, else the built-in sample.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from gridflow.domain.loader import content_hash, load_dir, load_files, load_text
from gridflow.domain.machine import CompiledWorkflow
from gridflow.domain.org import Directory
from gridflow.domain.org_loader import load_org_text
from gridflow.domain.yamlsource import ParseCache, read_text
from gridflow.errors import NotFound
from gridflow.service.runtime import Runtime

# The built-in pack (workflows, templates, sample org) lies beside the engine; the engine
# reads its files when told no others, and names none of its workflows.
BUILTIN_WORKFLOWS = Path(__file__).resolve().parents[1] / "builtin" / "workflows"
BUILTIN_ORG = BUILTIN_WORKFLOWS / "org.yaml"

WorkflowSource = str | Path | Iterable[str | Path] | None


def workflow_dir(workflows: WorkflowSource) -> Path:
    """The folder a workflow source lives in (its templates are looked for there)."""
    if workflows is None:
        return BUILTIN_WORKFLOWS
    if isinstance(workflows, (str, Path)):
        p = Path(workflows)
        return p if p.is_dir() else p.parent
    return BUILTIN_WORKFLOWS


class Definitions:
    """Workflows by id (current revision) and by (id, revision); the directory in force."""

    def __init__(
        self,
        rt: Runtime,
        workflows: WorkflowSource,
        directory: Directory | None,
        cache: ParseCache | None = None,
    ):
        self.rt, self.cache = rt, cache
        self.source = workflows
        self._explicit_directory = directory
        self._directory = directory
        self._revisions: dict[tuple[str, int], CompiledWorkflow] = {}
        self._current: dict[str, CompiledWorkflow] | None = None

    @property
    def loaded(self) -> bool:
        """Whether the workflow files have been read (they are on first need)."""
        return self._current is not None

    @property
    def current(self) -> dict[str, CompiledWorkflow]:
        """The workflows in force, by id (their files read and stored on first use)."""
        if self._current is None:
            return self.load()
        return self._current

    # ---- workflows -----------------------------------------------------------------------
    def load(self, workflows: WorkflowSource = None) -> dict[str, CompiledWorkflow]:
        """(Re)load workflow files; store new texts as new revisions. Raises
        ``DefinitionError`` and keeps the old set on error."""
        src = workflows if workflows is not None else self.source
        if src is None:
            loaded = load_dir(BUILTIN_WORKFLOWS, cache=self.cache)
        elif isinstance(src, (str, Path)):
            path = Path(src)
            loaded = (
                load_dir(path, cache=self.cache)
                if path.is_dir()
                else load_files([path], cache=self.cache)
            )
        else:
            loaded = load_files(src, cache=self.cache)
        store, now = self.rt.store, self.rt.now()
        with store.write() as tx:
            for wf in loaded.values():
                wf.revision = store.definitions.ensure(
                    tx,
                    wf.id,
                    str(wf.definition.version),
                    wf.content_hash,
                    wf.source,
                    wf.file,
                    now,
                )
            store.fill_facets(tx, {w.id: w.definition.facets for w in loaded.values()})
        for wf in loaded.values():
            assert wf.revision is not None
            self._revisions[(wf.id, wf.revision)] = wf
        self._current = loaded
        return loaded

    def workflow(self, workflow_id: str, revision: int | None = None) -> CompiledWorkflow:
        """The current definition, or a stored older ``revision`` (compiled once, cached)."""
        if revision is None:
            if workflow_id not in self.current:
                raise NotFound("workflow", workflow_id, self.current)
            return self.current[workflow_id]
        key = (workflow_id, revision)
        if key not in self._revisions:
            with self.rt.store.read() as tx:
                row = self.rt.store.definitions.revision(tx, workflow_id, revision)
            if row is None:
                raise NotFound("workflow revision", f"{workflow_id}@{revision}")
            wf = load_text(row.source, row.file, cache=self.cache)
            wf.revision = revision
            self._revisions[key] = wf
        return self._revisions[key]

    # ---- the org directory ---------------------------------------------------------------
    @property
    def directory(self) -> Directory:
        if self._directory is None:
            self._directory = self._stored_directory()
        return self._directory

    def _stored_directory(self) -> Directory:
        with self.rt.store.read() as tx:
            row = self.rt.store.definitions.latest_org(tx)
        if row is not None:
            return load_org_text(row.source, row.file, cache=self.cache)
        if BUILTIN_ORG.is_file():
            text = BUILTIN_ORG.read_text(encoding="utf-8")
            return load_org_text(text, str(BUILTIN_ORG), cache=self.cache)
        return Directory()

    def load_org(self, path: str | Path) -> Directory:
        """Validate an org file and store it as the directory in force."""
        text = read_text(path)  # bounded; a missing or non-UTF-8 file is a located error
        directory = load_org_text(text, str(path), cache=self.cache)
        with self.rt.store.write() as tx:
            self.rt.store.definitions.save_org(
                tx, content_hash(text), text, str(path), self.rt.now()
            )
        self._directory = directory
        return directory

    def reload(self) -> None:
        """Re-read the workflow files and (unless one was given) the stored directory."""
        self.load()
        if self._explicit_directory is None:
            self._directory = self._stored_directory()
