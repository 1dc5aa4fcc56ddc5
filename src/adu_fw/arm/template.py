"""Walking a template as ARM deploys it: resources, their copy loops and conditions, child
resources, ``languageVersion 2.0`` symbolic resources and ``existing`` references, and nested
inline deployments (``Microsoft.Resources/deployments`` with ``properties.template``, the output of
every Bicep module), each in its own scope (``expressionEvaluationOptions.scope`` inner) or in the
parent's (outer, the default).

:func:`expand` returns every instance of the resource types the caller asks for, each able to
resolve its own name and properties lazily in the right scope and loop, and the problems met on
the way (a loop whose count cannot be evaluated, a linked template that is not fetched, a
condition that cannot be decided), so a reader can say what it did not read and why.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .deployment import Deployment
from .scope import Context, Env, Scope, lower_keys
from .values import Unknown, Unresolved, force

__all__ = ["Resource", "Problem", "Expansion", "expand", "load_parameters_file", "parameters_from_document"]

DEPLOYMENTS = "microsoft.resources/deployments"
MAX_NESTING = 32


@dataclass
class Problem:
    """Something in the template that was not read, and why."""

    message: str
    where: str = ""
    kind: str = "warning"  # "warning" or "error" (resources of the asked-for types were lost)

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


@dataclass
class Resource:
    """One deployed instance of a resource, resolvable in its own scope and loop."""

    type: str
    raw: dict[str, Any]
    scope: Scope
    env: Env
    symbolic: str | None = None
    path: str = ""
    parent: "Resource | None" = None
    conditional: str | None = None
    index: int | None = None

    @property
    def type_lower(self) -> str:
        return self.type.lower()

    @property
    def raw_name(self) -> str | None:
        n = self.raw.get("name")
        return n if isinstance(n, str) else None

    def name(self) -> Any:
        """The resolved name (``Unknown`` when it cannot be known), as written (relative for children)."""
        return self.scope.resolve(self.raw.get("name"), self.env)

    def full_name(self) -> Any:
        """``parent/child`` for child resources declared inside their parent, else :meth:`name`."""
        own = self.name()
        if self.parent is None or isinstance(own, Unknown) or not isinstance(own, str) or "/" in own:
            return own
        parent = self.parent.full_name()
        if not isinstance(parent, str):
            return parent
        return f"{parent}/{own}"

    def get(self, key: str) -> Any:
        """A top-level property (``properties``, ``location``...) resolved, unknown parts as ``Unknown``."""
        return self.scope.resolve(self.raw.get(key.lower()), self.env)

    def evaluate(self, raw: Any) -> Any:
        return self.scope.resolve(raw, self.env)


@dataclass
class Expansion:
    resources: list[Resource] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: resources of the asked-for types not deployed with these parameters (their condition is false)
    skipped: list[str] = field(default_factory=list)
    root: Scope | None = None
    context: Context | None = None


def _type_tails(types: Iterable[str]) -> set[str]:
    return {t.lower().rstrip("/").split("/")[-1] for t in types}


class _Walker:
    def __init__(self, types: set[str], ctx: Context) -> None:
        self.types = types
        self.tails = _type_tails(types)
        self.ctx = ctx
        self.out = Expansion(context=ctx)
        self._mentions: dict[int, tuple[Any, bool]] = {}

    def mentions(self, obj: Any) -> bool:
        """Does this part of the document declare any resource of the asked-for types?"""
        key = id(obj)
        hit = self._mentions.get(key)
        if hit is None or hit[0] is not obj:
            hit = (obj, self._scan(obj, 0))  # the object is kept, so its id is not reused
            self._mentions[key] = hit
        return hit[1]

    def _scan(self, obj: Any, depth: int) -> bool:
        if depth > 400:
            return False
        if isinstance(obj, dict):
            for k, v in obj.items():
                if isinstance(k, str) and k.lower() == "type" and isinstance(v, str) and v.lower().rstrip("/").split("/")[-1] in self.tails:
                    return True
                if isinstance(v, (dict, list)) and self._scan(v, depth + 1):
                    return True
        elif isinstance(obj, list):
            return any(self._scan(v, depth + 1) for v in obj if isinstance(v, (dict, list)))
        return False

    def relevant(self, full_type: str) -> bool:
        return full_type.lower() in self.types

    def walk(self, template: Mapping[str, Any], scope: Scope, env: Env, path: str, parent: Resource | None,
             nesting: int, resources: Any = None, depth: int = 0) -> None:
        if depth > MAX_NESTING:
            self.out.problems.append(Problem(f"child resources nested more than {MAX_NESTING} deep are not read", path, "error"))
            return
        if resources is None:
            resources = lower_keys(template).get("resources")
        if isinstance(resources, dict):
            items: list[tuple[str | None, Any]] = list(resources.items())
        elif isinstance(resources, list):
            items = [(None, r) for r in resources]
        else:
            return
        for pos, (sym, res) in enumerate(items):
            if not isinstance(res, dict):
                continue
            low = lower_keys(res)
            t = low.get("type")
            if not isinstance(t, str):
                continue
            full = t if parent is None or t.lower().startswith("microsoft.") and "/" in t else f"{parent.type}/{t}"
            if low.get("existing") is True:
                continue  # a reference to a resource deployed elsewhere: nothing is deployed here
            is_dep = full.lower() == DEPLOYMENTS
            children = low.get("resources")
            if not (self.relevant(full) or (is_dep and self.mentions(res)) or (children and self.mentions(children))):
                continue
            label = sym or (low.get("name") if isinstance(low.get("name"), str) else f"#{pos + 1}")
            where = f"{path} > " if path else ""
            what = f"{'deployment' if is_dep else 'resource'} {label!s}"
            for index, ienv in self._instances(low, scope, env, f"{where}{what}", full):
                rpath = f"{where}{what}" + (f"[{index}]" if index is not None else "")
                if is_dep and not sym:  # deployments are easier to find by their resolved name
                    dname = scope.resolve(low.get("name"), ienv)
                    if isinstance(dname, str):
                        rpath = f"{where}deployment {dname}"
                conditional = None
                if "condition" in low:
                    try:
                        cond = force(scope.resolve(low["condition"], ienv))
                    except Unresolved as exc:
                        conditional = f"deployed only if {low['condition']}, which is not known offline ({exc})"
                    else:
                        if cond is False or cond is None:
                            if self.relevant(full):
                                self.out.skipped.append(f"{rpath} (condition {low['condition']} is false)")
                            continue
                if is_dep:
                    self._deployment(low, scope, ienv, rpath, nesting, conditional)
                    continue
                r = Resource(full, low, scope, ienv, sym, rpath, parent, conditional, index)
                if self.relevant(full):
                    self.out.resources.append(r)
                if isinstance(children, list) and children:
                    self.walk(template, scope, ienv, rpath, r, nesting, resources=children, depth=depth + 1)

    def _instances(self, low: dict[str, Any], scope: Scope, env: Env, path: str, full: str) -> Iterable[tuple[int | None, Env]]:
        copy = low.get("copy")
        if not isinstance(copy, dict):
            return [(None, env)]
        cl = lower_keys(copy)
        name = cl.get("name") if isinstance(cl.get("name"), str) else None
        try:
            count = scope.copy_count(cl.get("count"), env, f"copy loop {name!r}" if name else "the copy loop")
        except Unresolved as exc:
            kind = "error" if self.relevant(full) or full.lower() == DEPLOYMENTS else "warning"
            self.out.problems.append(Problem(f"{exc}; the {full} instances it makes are not read", path, kind))
            return []
        return [(i, env.with_loop(name, i, resource=True)) for i in range(count)]

    def _deployment(self, low: dict[str, Any], scope: Scope, env: Env, path: str, nesting: int,
                    conditional: str | None) -> None:
        props = lower_keys(low.get("properties")) if isinstance(low.get("properties"), dict) else {}
        name = scope.resolve(low.get("name"), env)
        label = name if isinstance(name, str) else (low.get("name") if isinstance(low.get("name"), str) else "deployment")
        if nesting >= MAX_NESTING:
            self.out.problems.append(Problem(f"deployments nested more than {MAX_NESTING} deep are not read", path, "error"))
            return
        if not isinstance(props.get("template"), dict):
            link = props.get("templatelink")
            if link is not None:
                uri = lower_keys(link).get("uri") if isinstance(link, dict) else None
                shown = uri if isinstance(uri, str) else json.dumps(link)[:120]
                self.out.problems.append(Problem(
                    f"linked template {shown} is not fetched (adu-fw reads files, not URLs): resources it defines "
                    f"are not read; read that template itself with its parameters", path, "warning"))
            return
        try:
            nested = scope.nested(low, env, name=name, path=path)
        except Unresolved as exc:
            self.out.problems.append(Problem(f"cannot be read: {exc}", path, "error"))
            return
        if nested is None:
            return
        inner_scope, inner_env, template = nested
        if conditional:
            self.out.problems.append(Problem(conditional, path, "warning"))
        start = len(self.out.resources)
        self.walk(template, inner_scope, inner_env, path, None, nesting + 1)
        if conditional:
            for r in self.out.resources[start:]:
                r.conditional = r.conditional or f"its deployment {label!r} is {conditional}"


def expand(
    doc: Mapping[str, Any],
    types: Iterable[str],
    *,
    params: Mapping[str, Any] | None = None,
    deployment: Deployment | Mapping[str, Any] | None = None,
    source: str | None = None,
    default_name: str | None = None,
) -> Expansion:
    """Every instance of ``types`` (full resource types) that ``doc`` deploys, with the problems met."""
    ctx = Context(Deployment.of(deployment), source, default_name)
    walker = _Walker({t.lower() for t in types}, ctx)
    root = Scope(doc, ctx, given=dict(params or {}), user_given=True)
    walker.out.root = root
    walker.walk(doc, root, Env(), "", None, 0)
    return walker.out


def parameters_from_document(doc: Any, source: str | None = None) -> dict[str, Any]:
    """Parameter values from a deployment parameters file (``{"parameters": {"x": {"value": ...}}}``)."""
    from ..errors import PolicyError

    if not isinstance(doc, dict):
        raise PolicyError("a parameters file is a JSON object", file=source)
    top = lower_keys(doc)
    params = top.get("parameters") if isinstance(top.get("parameters"), dict) else doc
    out: dict[str, Any] = {}
    for name, spec in params.items():
        if name.startswith("$") or name.lower() in ("contentversion",):
            continue
        if isinstance(spec, dict) and "value" in lower_keys(spec):
            out[name] = lower_keys(spec)["value"]
        elif isinstance(spec, dict) and "reference" in lower_keys(spec):
            out[name] = Unknown(Unresolved(f"parameter {name!r} comes from a Key Vault reference in {source or 'the parameters file'}, "
                                           "which is not read offline; pass it with --param"))
        else:
            raise PolicyError(f"parameter {name!r}: expected {{\"value\": ...}}", file=source, field=name)
    return out


def load_parameters_file(path: str) -> dict[str, Any]:
    """A deployment parameters file (``az deployment ... --parameters @file.json``) as name -> value."""
    from pathlib import Path

    from ..errors import PolicyError
    from .jsonc import loads

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise PolicyError(f"cannot read the parameters file: {exc.strerror or exc}", file=str(p)) from None
    try:
        doc = loads(text)
    except ValueError as exc:
        raise PolicyError(f"malformed JSON: {exc}", file=str(p)) from None
    return parameters_from_document(doc, str(p))
