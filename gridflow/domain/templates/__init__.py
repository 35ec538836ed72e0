"""Notice templates: sandboxed Jinja rendering of a subject and a body, plus static checks.

Three modules, one idea each:

* :mod:`~gridflow.domain.templates.sandbox` — the Jinja sandbox every template runs in
  (:class:`NoticeSandbox`, :func:`template_callable`) and its per-render resource budget
  (``DEFAULT_MAX_OUTPUT``, ``DEFAULT_MAX_VALUE``, ``DEFAULT_MAX_STEPS``, ``MAX_RANGE``); its
  docstring holds the security model. Templates are untrusted input.
* :mod:`~gridflow.domain.templates.renderer` — :class:`TemplateRenderer` finds
  ``<root>/templates/<workflow>/<notice>.<lang>.txt`` (+ ``.html``) under its roots, falls back
  across :data:`LANGUAGES` and renders a :class:`RenderedNotice`; :func:`render_string` renders a
  one-off string in the same sandbox; :func:`clean_subject`. Its docstring holds the file layout.
* :mod:`~gridflow.domain.templates.checks` — :func:`check_templates`, the static checker behind
  ``TemplateRenderer.check``: located problems (syntax, unknown names, fields, states, missing
  blocks and layouts) without rendering anything.

Every failure is a ``GridflowError`` from :mod:`gridflow.errors` (``TemplateError``,
``TemplateSecurityError``, ``TemplateLimitError``, ``TemplateNotFound``, ``DefinitionError``).
"""

from __future__ import annotations

from gridflow.domain.templates.budget import (
    DEFAULT_MAX_OUTPUT,
    DEFAULT_MAX_STEPS,
    DEFAULT_MAX_VALUE,
    MAX_RANGE,
    template_callable,
)
from gridflow.domain.templates.checks import check_templates
from gridflow.domain.templates.renderer import (
    LANGUAGES,
    NOTICE_CONTEXT_NAMES,
    RenderedNotice,
    TemplateRenderer,
    clean_subject,
    render_string,
)
from gridflow.domain.templates.sandbox import NoticeSandbox

__all__ = [
    "DEFAULT_MAX_OUTPUT",
    "DEFAULT_MAX_STEPS",
    "DEFAULT_MAX_VALUE",
    "LANGUAGES",
    "MAX_RANGE",
    "NOTICE_CONTEXT_NAMES",
    "NoticeSandbox",
    "RenderedNotice",
    "TemplateRenderer",
    "check_templates",
    "clean_subject",
    "render_string",
    "template_callable",
]
