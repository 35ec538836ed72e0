"""Rendering notice templates: finding the files, language fallback, subject/body/HTML.

Layout, under each root (the first root that has a file wins)::

    <root>/templates/<workflow_id>/<notice>.<lang>.txt    subject + plain-text body (required)
    <root>/templates/<workflow_id>/<notice>.<lang>.html   HTML body (optional twin)
    <root>/templates/_layouts/...                         shared layouts for {% extends %}

``lang`` is ``zh-CN`` or ``en``. A notice template defines ``{% block subject %}`` and
``{% block body %}`` (directly or through ``{% extends %}``). What is rendered is exactly what
those blocks produce; text outside them is ignored. The HTML twin only needs ``body``.

Contract: :meth:`TemplateRenderer.render` returns a :class:`RenderedNotice` (subject cleaned to
one line of at most ``SUBJECT_MAX`` characters, bodies with leading blank lines and trailing
whitespace stripped), the language falling back requested → zh-CN → en; no template in any of
them raises :class:`TemplateNotFound`. Every template runs in the sandbox of
:mod:`gridflow.domain.templates.sandbox` (its rules and errors are described there), with a fresh
budget per file; the streamed output is capped at ``max_output`` here. :func:`render_string`
renders a one-off string in the same sandbox. :meth:`TemplateRenderer.check` delegates to
:func:`gridflow.domain.templates.checks.check_templates`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import jinja2
from jinja2.exceptions import TemplateSyntaxError

from gridflow.domain.notice import SUBJECT_MAX, RenderedNotice, clean_subject
from gridflow.domain.templates.budget import (
    _CURRENT,
    DEFAULT_MAX_OUTPUT,
    DEFAULT_MAX_STEPS,
    DEFAULT_MAX_VALUE,
    MAX_RANGE,
    _Budget,
    _LimitExceeded,
    template_callable,
)
from gridflow.domain.templates.sandbox import NoticeSandbox, _translate
from gridflow.errors import (
    Problem,
    TemplateError,
    TemplateLimitError,
    TemplateNotFound,
    TemplateSecurityError,
)

__all__ = [
    "LANGUAGES",
    "NOTICE_CONTEXT_NAMES",
    "SUBJECT_MAX",
    "RenderedNotice",
    "TemplateRenderer",
    "clean_subject",
    "render_string",
]
# Importable from this module before it was split into sandbox/renderer/checks: keep them so.
__all__ += [
    "DEFAULT_MAX_OUTPUT",
    "DEFAULT_MAX_STEPS",
    "DEFAULT_MAX_VALUE",
    "MAX_RANGE",
    "NoticeSandbox",
    "TemplateError",
    "TemplateLimitError",
    "TemplateNotFound",
    "TemplateSecurityError",
    "template_callable",
]

NOTICE_CONTEXT_NAMES = frozenset({"case", "event", "sla", "recipient", "link", "notice", "digest"})
LANGUAGES = ("zh-CN", "en")

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
_WORKFLOW_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_LANG_RE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_FILE_RE = re.compile(
    r"^(?P<notice>[A-Za-z0-9_][A-Za-z0-9_-]*)\.(?P<lang>[^.]+)\.(?P<ext>txt|html)$"
)


# ── rendering ───────────────────────────────────────────────────────────────────────────────


class _Mark(str):
    """An empty string yielded around a top-level block's output, so blocks can be told apart."""

    block: str
    start: bool


def _mark(block: str, start: bool) -> _Mark:
    m = _Mark("")
    m.block, m.start = block, start
    return m


class _MarkedStack(list):
    """``context.blocks[name]`` whose most-derived entry brackets its output with marks."""

    def __init__(self, block: str, items: Iterable[Any]):
        super().__init__(items)
        self._start, self._end = _mark(block, True), _mark(block, False)

    def __getitem__(self, index: Any) -> Any:
        item = super().__getitem__(index)
        if index != 0:
            return item
        start, end = self._start, self._end

        def marked(context: Any, *a: Any, **kw: Any) -> Iterator[str]:
            yield start
            yield from item(context, *a, **kw)
            yield end

        return marked


def _render(
    template: jinja2.Template,
    context: Mapping[str, Any],
    b: _Budget,
    blocks: tuple[str, ...],
    shown: Callable[[str], str] | None = None,
) -> dict[str, str]:
    """Stream ``template``; return the output of the named top-level blocks ('' key: whole)."""
    ctx = template.new_context(dict(context))
    for name in blocks:
        ctx.blocks[name] = _MarkedStack(name, ctx.blocks.get(name, []))
    parts: dict[str, list[str]] = {"": []}
    open_blocks: list[str] = []
    produced = 0
    token = _CURRENT.set(b)
    gen = cast("Generator[str, None, None]", template.root_render_func(ctx))
    try:
        try:
            for chunk in gen:
                if type(chunk) is _Mark:
                    if chunk.start:
                        open_blocks.append(chunk.block)
                        parts.setdefault(chunk.block, [])
                    elif open_blocks:
                        open_blocks.pop()
                    continue
                produced += len(chunk)
                if produced > b.max_output:
                    raise _LimitExceeded(f"template output exceeds {b.max_output} characters")
                parts[open_blocks[-1] if open_blocks else ""].append(chunk)
        except Exception:
            template.environment.handle_exception()  # re-raises with template line numbers
        finally:
            gen.close()
    except Exception as exc:
        err = _translate(exc, template.filename, shown)
        if err is exc:
            raise
        raise err from exc
    finally:
        _CURRENT.reset(token)
    return {name: "".join(chunks) for name, chunks in parts.items()}


def _clean_body(text: str) -> str:
    return re.sub(r"\A(?:[ \t]*\n)+", "", text).rstrip()


def _bytecode_cache(folder: Path) -> jinja2.FileSystemBytecodeCache | None:
    """Jinja's bytecode cache in ``folder``, its files named after the sandbox's code."""
    import hashlib

    from gridflow.domain.templates import budget, sandbox

    digest = hashlib.sha256()
    for module in (budget, sandbox):
        if module.__file__:
            digest.update(Path(module.__file__).read_bytes())
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(
        str(folder), f"__gridflow_{digest.hexdigest()[:16]}_%s.cache"
    )


def _fallbacks(lang: str, fallback: str | None = None) -> list[str]:
    """The languages tried for ``lang``: itself, the template language it is a form of
    (``en-US`` → ``en``), the workflow's declared ``fallback``, then zh-CN and en."""
    chain = [lang] if _LANG_RE.match(lang or "") else []
    base = [x for x in LANGUAGES if chain and lang.lower().startswith(x.split("-")[0].lower())]
    return list(dict.fromkeys([*chain, *base, *([fallback] if fallback else []), "zh-CN", "en"]))


class TemplateRenderer:
    """Renders ``<root>/templates/<workflow>/<notice>.<lang>.txt`` (+ ``.html``) in the sandbox."""

    def __init__(
        self,
        roots: list[Path],
        *,
        max_output: int = DEFAULT_MAX_OUTPUT,
        max_value: int = DEFAULT_MAX_VALUE,
        max_steps: int = DEFAULT_MAX_STEPS,
        bytecode_dir: Path | None = None,
    ):
        """``bytecode_dir``: where compiled templates are kept between processes (keyed by
        the template's text and by this sandbox's own code, so a changed sandbox never runs
        code compiled for another)."""
        self.roots = [Path(r) for r in roots]
        self.max_output, self.max_value, self.max_steps = max_output, max_value, max_steps
        self.env = NoticeSandbox(
            loader=jinja2.FileSystemLoader([str(r / "templates") for r in self.roots]),
            autoescape=jinja2.select_autoescape(("html",), default_for_string=False),
            bytecode_cache=_bytecode_cache(bytecode_dir) if bytecode_dir else None,
        )

    def _budget(self) -> _Budget:
        return _Budget(self.max_output, max(self.max_value, self.max_output), self.max_steps)

    def available(self, workflow_id: str) -> dict[str, set[str]]:
        """Notice name → languages that have a ``.txt`` template, across all roots."""
        found: dict[str, set[str]] = {}
        for name in self._workflow_files(workflow_id):
            m = _FILE_RE.match(name.rsplit("/", 1)[-1])
            if m and m["ext"] == "txt" and m["lang"] in LANGUAGES:
                found.setdefault(m["notice"], set()).add(m["lang"])
        return found

    def _workflow_files(self, workflow_id: str) -> dict[str, Path]:
        if not _WORKFLOW_RE.match(workflow_id) or ".." in workflow_id:
            return {}
        files: dict[str, Path] = {}
        for root in self.roots:
            folder = root / "templates" / workflow_id
            if folder.is_dir():
                for path in sorted(folder.iterdir()):
                    if path.is_file() and path.suffix in (".txt", ".html"):
                        files.setdefault(f"{workflow_id}/{path.name}", path)
        return files

    def shown(self, path: str) -> str:
        """A template file as errors name it: relative to its root
        (``templates/raise_hand/assignment.zh-CN.txt``), never the server's absolute path —
        these errors reach notices (the plain fallback) and logs."""
        file = Path(path)
        for root in self.roots:
            try:
                return str(file.relative_to(root))
            except ValueError:
                continue
        return file.name if file.is_absolute() else path

    def _load(self, name: str) -> jinja2.Template | None:
        try:
            return self.env.get_template(name)
        except jinja2.TemplateNotFound:
            return None
        except TemplateSyntaxError as exc:
            raise _translate(exc, name, self.shown) from exc

    def render(
        self,
        workflow_id: str,
        notice: str,
        lang: str,
        context: Mapping[str, Any],
        *,
        fallback: str | None = None,
    ) -> RenderedNotice:
        """Render a notice; language falls back requested → its template language → the
        workflow's ``fallback`` → zh-CN → en."""
        key = f"{workflow_id}/{notice}"
        if not (_WORKFLOW_RE.match(workflow_id) and _NAME_RE.match(notice)) or ".." in key:
            raise TemplateNotFound(key, [], ())
        tried = []
        for candidate in _fallbacks(lang, fallback):
            name = f"{key}.{candidate}.txt"
            tried.append(name)
            template = self._load(name)
            if template is None:
                continue
            parts = _render(template, context, self._budget(), ("subject", "body"), self.shown)
            for block in ("subject", "body"):
                if block not in parts:
                    raise TemplateError(
                        f"no {{% block {block} %}} rendered",
                        file=self.shown(template.filename or name),
                    )
            html = None
            twin = self._load(f"{key}.{candidate}.html")
            if twin is not None:
                html_parts = _render(twin, context, self._budget(), ("body",), self.shown)
                if "body" not in html_parts:
                    raise TemplateError(
                        "no {% block body %} rendered", file=self.shown(twin.filename or name)
                    )
                html = _clean_body(html_parts["body"])
            return RenderedNotice(clean_subject(parts["subject"]), _clean_body(parts["body"]), html)
        raise TemplateNotFound(key, tried, self.available(workflow_id))

    def shares_renders(
        self, workflow_id: str, notice: str, lang: str, fallback: str | None = None
    ) -> bool:
        """Whether one render of this notice (the template the language falls back to, and
        its HTML twin) can serve every recipient, the recipient's name and id filled in
        afterwards (see ``sharing.recipient_placeholders``)."""
        from gridflow.domain.templates.sharing import recipient_placeholders

        for candidate in _fallbacks(lang, fallback):
            name = f"{workflow_id}/{notice}.{candidate}.txt"
            if self._find(name) is None:
                continue
            twin = f"{workflow_id}/{notice}.{candidate}.html"
            return recipient_placeholders(self.env, name) and (
                self._find(twin) is None or recipient_placeholders(self.env, twin)
            )
        return False

    def _find(self, name: str) -> Path | None:
        for root in self.roots:
            path = root / "templates" / name
            if ".." not in name.split("/") and path.is_file():
                return path
        return None

    # ── static checks ──────────────────────────────────────────────────────────────────────

    def check(self, workflow_id: str, *, fields: set[str], states: set[str]) -> list[Problem]:
        """Every located problem in the workflow's templates (and the layouts they use).

        See :func:`gridflow.domain.templates.checks.check_templates`.
        """
        from gridflow.domain.templates.checks import check_templates  # checks imports this module

        return check_templates(self, workflow_id, fields=fields, states=states)


# ── one-off strings ─────────────────────────────────────────────────────────────────────────


@functools.lru_cache(maxsize=2)
def _string_env(autoescape: bool) -> NoticeSandbox:
    return NoticeSandbox(autoescape=autoescape)


@functools.lru_cache(maxsize=256)
def _compiled(source: str, autoescape: bool) -> jinja2.Template:
    return _string_env(autoescape).from_string(source)


def render_string(
    source: str,
    context: Mapping[str, Any],
    *,
    autoescape: bool = False,
    max_output: int = DEFAULT_MAX_OUTPUT,
) -> str:
    """Render a template string in the same sandbox (whole output; previews, YAML subjects)."""
    try:
        template = _compiled(source, autoescape)
    except TemplateSyntaxError as exc:
        raise _translate(exc, "<string>") from exc
    b = _Budget(max_output, max(DEFAULT_MAX_VALUE, max_output), DEFAULT_MAX_STEPS)
    return _render(template, context, b, ())[""]
