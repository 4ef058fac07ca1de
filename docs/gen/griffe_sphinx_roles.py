"""Griffe extension for the API reference: Sphinx-isms in Google docstrings.

ftl-tff's docstrings are Google style (what mkdocstrings renders best) but
cross-reference with Sphinx roles (:func:`train_federated`,
:class:`~ftl_tff.data.clients.scaling.NodeScaler`) and introduce literal blocks with
reST's ``::``. Left alone, mkdocs shows the roles as text. This extension
rewrites each docstring before it is rendered:

* a role whose target griffe can resolve (fully qualified, or relative to the
  object, its class or its module, as Sphinx does) becomes an *optional*
  autorefs link to the target's canonical path: a link where that object is
  rendered on the site, plain code elsewhere, never a build warning;
* a role griffe cannot resolve (a standard-library module, an attribute set
  at run time) becomes plain inline code;
* ``text::`` before an indented block becomes ``text:`` (a lone ``::`` line
  is dropped): the indented block is a Markdown code block already;
* a module or class attribute without a docstring takes the Sphinx doc
  comment above it (``#: text`` lines), so documented constants such as
  ``OPTIMIZERS`` appear in the reference (and roles can link to them);
* a section titled ``Example:`` becomes ``Examples:``, the title griffe's
  Google parser knows: its ``>>>`` lines then render as a console code block
  (under ``Example:`` they became nested Markdown quotes).

The docstrings in the source are not touched; only what the site shows.
Loaded by mkdocstrings from mkdocs.yml (``extensions:``); not a page.
"""

from __future__ import annotations

import html
import re
from typing import Any

from griffe import Attribute, Docstring, Extension, GriffeLoader, Module, Object

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj|const):`(?P<tilde>~?)(?P<target>[^`<>\s]+)`")
_LITERAL_MARKER = re.compile(r"^(?P<text>.*?)(?P<space>\s?)::[ \t]*$")
# A section header: "Example:" alone on its line, its body on the next line.
_EXAMPLE_HEADER = re.compile(r"^(?P<indent>[ \t]*)Example:[ \t]*$(?=\n[ \t]*\S)", re.MULTILINE)


class SphinxRoles(Extension):
    """Rewrite Sphinx roles and ``::`` literal markers in every docstring of the package."""

    def on_package(self, *, pkg: Module, loader: GriffeLoader, **kwargs: Any) -> None:
        for obj in _objects(pkg):
            if obj.docstring is None and isinstance(obj, Attribute):
                _doc_comment(obj)
            if obj.docstring is not None:
                text = _EXAMPLE_HEADER.sub(r"\g<indent>Examples:", _literal_markers(obj.docstring.value))
                obj.docstring.value = _ROLE.sub(lambda match: _link(match, obj, loader), text)


def _objects(obj: Object):
    """The object and every object defined in it (aliases are skipped: their target is visited)."""
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _objects(member)


def _doc_comment(attribute: Attribute) -> None:
    """Give ``attribute`` the ``#:`` comment lines right above it as its docstring."""
    try:
        lines = attribute.lines_collection[attribute.filepath]
    except Exception:  # no source (compiled module, inspection)
        return
    if not attribute.lineno:
        return
    comment: list[str] = []
    number = attribute.lineno - 2  # the line above, 0-based
    while number >= 0 and lines[number].lstrip().startswith("#:"):
        comment.insert(0, lines[number].lstrip()[2:].strip())
        number -= 1
    if comment:
        attribute.docstring = Docstring(" ".join(comment), lineno=attribute.lineno, parent=attribute)


def _link(match: re.Match[str], obj: Object, loader: GriffeLoader) -> str:
    target = match["target"]
    shown = target.rsplit(".", 1)[-1] if match["tilde"] else target
    code = f"<code>{html.escape(shown)}</code>"
    path = _resolve(target.lstrip("."), obj, loader)
    if path is None:
        return code
    return f'<autoref identifier="{html.escape(path)}" optional>{code}</autoref>'


def _resolve(name: str, obj: Object, loader: GriffeLoader) -> str | None:
    """Canonical path of ``name`` as seen from ``obj``, or None when griffe cannot find it."""
    collection = loader.modules_collection
    first, _, rest = name.partition(".")
    if first in collection.members:
        candidates = [name]
    else:
        candidates = []
        scope: Object | None = obj
        while scope is not None:
            try:
                base = scope.resolve(first)
            except Exception:  # griffe's NameResolutionError, or an unresolvable alias
                base = None
            if base:
                candidates.append(f"{base}.{rest}" if rest else base)
                break
            scope = scope.parent
    for candidate in candidates:
        try:
            found = collection.get_member(candidate)
            return found.canonical_path
        except Exception:  # KeyError, AliasResolutionError, CyclicAliasError
            continue
    return None


def _literal_markers(text: str) -> str:
    lines = text.split("\n")
    out = []
    for number, line in enumerate(lines):
        match = _LITERAL_MARKER.match(line)
        following = lines[number + 1] if number + 1 < len(lines) else None
        if match and (following is None or not following.strip()):
            body = match["text"]
            if not body.strip():
                continue  # a lone "::" line
            out.append(body if match["space"] else f"{body}:")
            continue
        out.append(line)
    return "\n".join(out)
