"""One template's evaluation scope: parameters, variables, user-defined functions, deployment.

A :class:`Scope` evaluates expressions and resolves JSON values (``resolve``) the way ARM does,
offline. Parameters given by the user (or by a parent deployment) and variables are evaluated on
first use and cached; a value that cannot be known becomes an :class:`Unknown` leaf instead of
failing its neighbours (see ``values.py``). Copy loops on properties and variables expand here;
resource loops and nested deployments are walked by ``template.py``, which asks a scope for the
scope of a nested deployment (:meth:`Scope.nested`).
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterator, Mapping

from .deployment import (
    ENVIRONMENT_PUBLIC,
    STANDIN_RESOURCE_GROUP,
    STANDIN_SUBSCRIPTION_ID,
    STANDIN_TENANT_ID,
    Deployment,
)
from .expr import Node, parse
from .functions import BUILTINS, LENIENT
from .values import MissingReference, Unknown, Unresolved, describe_type, force, is_expression, lookup, text

__all__ = ["Scope", "Env", "Context", "Thunk", "StandIn", "EmptyDefault", "lower_keys", "placeholder_name"]

MAX_COPY = 800  # ARM's limit on copy count
MAX_DEPTH = 64


def lower_keys(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k.lower(): v for k, v in d.items() if isinstance(k, str)}


def _get(d: Mapping[str, Any], key: str) -> Any:
    if key in d:
        return d[key]
    low = key.lower()
    for k, v in d.items():
        if isinstance(k, str) and k.lower() == low:
            return v
    return None


class StandIn(str):
    """A stand-in value (resource group, subscription); reading it is recorded with the option to give."""

    option: str = ""

    def __new__(cls, value: str, option: str) -> "StandIn":
        s = super().__new__(cls, value)
        s.option = option
        return s


class EmptyDefault(list):  # type: ignore[type-arg]
    """The empty array a parameter defaulted to; ``param`` says which (for "no rules: pass X")."""

    def __init__(self, param: str) -> None:
        super().__init__()
        self.param = param


class Thunk:
    """A value computed on first use (a parameter passed by a parent deployment)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn


class Env:
    """Loop indices (copyIndex) and lambda variables in effect while evaluating."""

    __slots__ = ("loops", "lambdas")

    def __init__(self, loops: dict[str | None, int] | None = None, lambdas: dict[str, Any] | None = None) -> None:
        self.loops = loops or {}
        self.lambdas = lambdas or {}

    def with_loop(self, name: str | None, index: int, *, resource: bool = False) -> "Env":
        loops = dict(self.loops)
        if name:
            loops[name.lower()] = index
        if resource or not name:
            loops[None] = index
        return Env(loops, self.lambdas)

    def with_lambdas(self, values: Mapping[str, Any]) -> "Env":
        lam = dict(self.lambdas)
        lam.update({k.lower(): v for k, v in values.items()})
        return Env(self.loops, lam)


class Lambda:
    __slots__ = ("params", "body", "env", "scope")

    def __init__(self, params: list[str], body: Node, env: Env, scope: "Scope") -> None:
        self.params, self.body, self.env, self.scope = params, body, env, scope

    def __call__(self, *values: Any) -> Any:
        env = self.env.with_lambdas(dict(zip(self.params, values)))
        return self.scope._eval(self.body, env)


class Context:
    """What every scope of one document shares: the deployment and the record of what was assumed."""

    def __init__(self, deployment: Deployment, source: str | None = None, default_name: str | None = None) -> None:
        self.deployment = deployment
        self.source = source
        self.default_name = default_name or "deployment"
        self._active: list[set[tuple[str, str]]] = []
        #: while set, a parameter or variable that cannot be known evaluates to its own name (see placeholder_name)
        self.placeholders = False

    def record(self, kind: str, what: str) -> None:
        for s in self._active:
            s.add((kind, what))

    def replay(self, events: set[tuple[str, str]]) -> None:
        for s in self._active:
            s.update(events)

    def tracking(self) -> "_Tracking":
        return _Tracking(self)


class _Tracking:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.events: set[tuple[str, str]] = set()

    def __enter__(self) -> set[tuple[str, str]]:
        self.ctx._active.append(self.events)
        return self.events

    def __exit__(self, *exc: Any) -> None:
        active = self.ctx._active
        for i in range(len(active) - 1, -1, -1):
            if active[i] is self.events:
                del active[i]
                break


class Scope:
    """Parameters, variables and functions of one template (or of a user-defined function's body)."""

    def __init__(
        self,
        template: Mapping[str, Any],
        ctx: Context,
        *,
        given: Mapping[str, Any] | None = None,
        parent: "Scope | None" = None,
        path: str = "",
        deployment_name: str | Unknown | None = None,
        resource_group: str | Unknown | None = None,
        subscription_id: str | Unknown | None = None,
        user_given: bool = False,
        udf: bool = False,
        functions: dict[str, Any] | None = None,
    ) -> None:
        t = lower_keys(template)
        self.template = t
        self.ctx = ctx
        self.parent = parent
        self.path = path
        self.depth = 0 if parent is None else parent.depth + 1
        self.udf = udf
        self.user_given = user_given
        params = t.get("parameters")
        self._param_specs = {k.lower(): (k, v) for k, v in params.items()} if isinstance(params, dict) else {}
        self._given = {k.lower(): v for k, v in (given or {}).items() if isinstance(k, str)}
        variables = t.get("variables")
        self._vars: dict[str, Any] = {}
        if isinstance(variables, dict):
            for k, v in variables.items():
                if k.lower() == "copy" and isinstance(v, list):
                    for entry in v:
                        if isinstance(entry, dict) and isinstance(_get(entry, "name"), str):
                            self._vars[_get(entry, "name").lower()] = ("__copy__", entry)
                else:
                    self._vars[k.lower()] = v
        self.functions = functions if functions is not None else self._read_functions(t.get("functions"))
        self.definitions = t.get("definitions") if isinstance(t.get("definitions"), dict) else {}
        self.deployment_name = deployment_name
        self.resource_group = resource_group
        self.subscription_id = subscription_id
        self._cache: dict[str, tuple[Any, set[tuple[str, str]]]] = {}
        self._resolving: set[str] = set()
        #: languageVersion 2.0: symbolic name -> resource (lower-keyed), for reference('name') and resourceInfo()
        resources = t.get("resources")
        self.symbolic: dict[str, dict[str, Any]] = (
            {k.lower(): lower_keys(v) for k, v in resources.items() if isinstance(v, dict)} if isinstance(resources, dict) else {}
        )

    # -- public ----------------------------------------------------------------------------------------------
    def resolve(self, raw: Any, env: Env | None = None, depth: int = 0) -> Any:
        """``raw`` with every expression evaluated; what cannot be known offline becomes an Unknown."""
        env = env or Env()
        if depth > 200:
            return Unknown(Unresolved("value nested too deeply"))
        if isinstance(raw, str):
            if is_expression(raw):
                try:
                    return self.evaluate(raw[1:-1], env)
                except Unresolved as exc:
                    return Unknown(exc)
                except RecursionError:
                    return Unknown(Unresolved("expression nested too deeply"))
            return raw[1:] if raw.startswith("[[") else raw
        if isinstance(raw, list):
            return [self.resolve(v, env, depth + 1) for v in raw]
        if isinstance(raw, dict):
            out: dict[str, Any] = {}
            for k, v in raw.items():
                if isinstance(k, str) and k.lower() == "copy" and isinstance(v, list) and all(isinstance(e, dict) for e in v):
                    for entry in v:
                        name = _get(entry, "name")
                        if isinstance(name, str):
                            out[name] = self._copy_list(entry, env, f"property copy {name!r}")
                    continue
                out[k] = self.resolve(v, env, depth + 1)
            return out
        return raw

    def value(self, raw: Any, env: Env | None = None) -> Any:
        """``raw`` fully evaluated; raises Unresolved naming the first part that cannot be known."""
        return force(self.resolve(raw, env))

    def evaluate(self, text_: str, env: Env | None = None) -> Any:
        return self._eval(parse(text_), env or Env())

    # -- parameters and variables ------------------------------------------------------------------------------
    def parameter(self, name: str) -> Any:
        key = name.lower()
        if self.udf:
            if key in self._given:
                return self._given[key]
            raise Unresolved(f"parameter {name!r} is not a parameter of this user-defined function")
        return self._cached("p:" + key, lambda: self._parameter(name, key))

    def _parameter(self, name: str, key: str) -> Any:
        spec_entry = self._param_specs.get(key)
        if key in self._given:
            given = self._given[key]
            value = self._resolve_thunk(given) if isinstance(given, Thunk) else given
            if self.user_given and spec_entry is not None:
                value = _coerce(value, spec_entry[1], spec_entry[0])
            return value
        if spec_entry is None:
            raise Unresolved(f"parameter {name!r} is not defined in the template{self._where()}")
        spec = spec_entry[1] if isinstance(spec_entry[1], dict) else {}
        if "defaultvalue" in lower_keys(spec):
            value = self.resolve(lower_keys(spec)["defaultvalue"])
            if value in ([], {}, None, ""):  # an empty default: the content was left to the caller
                self.ctx.record("default", self._qualified(spec_entry[0]))
                if isinstance(value, list):
                    return EmptyDefault(self._qualified(spec_entry[0]))
            return value
        if self._nullable(spec):
            self.ctx.record("default", self._qualified(spec_entry[0]))
            return None
        if self.parent is None:
            raise Unresolved(
                f"parameter {spec_entry[0]!r} has no default value; pass it (e.g. --param {spec_entry[0]}=VALUE)"
            )
        raise Unresolved(f"parameter {spec_entry[0]!r}{self._where()} is not passed by its deployment and has no default value")

    def _nullable(self, spec: dict[str, Any]) -> bool:
        low = lower_keys(spec)
        if low.get("nullable") is True:
            return True
        ref = low.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            d = self.definitions.get(ref.split("/")[-1])
            return isinstance(d, dict) and lower_keys(d).get("nullable") is True
        return False

    def _resolve_thunk(self, thunk: Thunk) -> Any:
        return thunk.fn()

    def variable(self, name: str) -> Any:
        if self.udf:
            raise Unresolved("a user-defined function cannot use variables()")
        key = name.lower()
        if key not in self._vars:
            raise Unresolved(f"variable {name!r} is not defined in the template{self._where()}")
        raw = self._vars[key]
        if isinstance(raw, tuple) and raw and raw[0] == "__copy__":
            return self._cached("v:" + key, lambda: self._copy_list(raw[1], Env(), f"variable copy {name!r}"))
        return self._cached("v:" + key, lambda: self.resolve(raw))

    def _cached(self, key: str, compute: Callable[[], Any]) -> Any:
        hit = self._cache.get(key)
        if hit is not None:
            self.ctx.replay(hit[1])
            return hit[0]
        if key in self._resolving:
            raise Unresolved(f"{key[2:]!r} refers to itself")
        self._resolving.add(key)
        try:
            with self.ctx.tracking() as events:
                value = compute()
        finally:
            self._resolving.discard(key)
        if key.startswith("v:"):  # a variable's defaulted parameters belong to the members that read them
            events = {e for e in events if e[0] != "default"}
        self._cache[key] = (value, set(events))
        self.ctx.replay(events)
        return value

    def _copy_list(self, entry: Mapping[str, Any], env: Env, what: str) -> Any:
        name = _get(entry, "name")
        try:
            count = self._count(_get(entry, "count"), env, what)
        except Unresolved as exc:
            return Unknown(exc)
        raw_input = _get(entry, "input")
        return [self.resolve(raw_input, env.with_loop(name, i)) for i in range(count)]

    def _count(self, raw: Any, env: Env, what: str) -> int:
        try:
            count = force(self.resolve(raw, env))
        except Unresolved as exc:
            raise Unresolved(f"the count of {what} cannot be evaluated: {exc}") from None
        if isinstance(count, bool) or not isinstance(count, int):
            raise Unresolved(f"the count of {what} is {describe_type(count)} {count!r}, not an integer")
        if not 0 <= count <= MAX_COPY:
            raise Unresolved(f"the count of {what} is {count}; ARM allows 0-{MAX_COPY}")
        return count

    def copy_count(self, raw: Any, env: Env, what: str) -> int:
        return self._count(raw, env, what)

    def _where(self) -> str:
        return f" ({self.path})" if self.path else ""

    def _qualified(self, name: str) -> str:
        return f"{name} ({self.path})" if self.path else name

    # -- evaluation ----------------------------------------------------------------------------------------------
    def _eval(self, node: Node, env: Env) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "call":
            return self._call(node, env)
        if kind == "member":
            obj = self._eval(node[1], env)
            if isinstance(obj, MissingReference):
                return obj.child(node[2])
            return self._note(lookup(obj, node[2]))
        if kind == "index":
            obj = self._eval(node[1], env)
            key = self._eval(node[2], env)
            if isinstance(key, Unknown):
                key.raise_()
            if isinstance(obj, MissingReference):
                return obj.child(key)
            return self._note(lookup(obj, key))
        raise Unresolved(f"unknown expression node {kind}")  # pragma: no cover

    def _note(self, value: Any) -> Any:
        if isinstance(value, StandIn):
            self.ctx.record("standin", value.option)
        return value

    def _arg(self, node: Node, env: Env) -> Any:
        try:
            return self._eval(node, env)
        except Unresolved as exc:
            return Unknown(exc)

    def _call(self, node: Node, env: Env) -> Any:
        lname, name, arg_nodes = node[1], node[2], node[3]
        special = _SPECIAL.get(lname)
        if special is not None:
            return special(self, name, arg_nodes, env)
        if "." in lname:
            return self._udf(name, lname, arg_nodes, env)
        if lname.startswith("list"):
            return self._list_fn(name, [self._arg(a, env) for a in arg_nodes])
        fn = BUILTINS.get(lname)
        if fn is None:
            raise Unresolved(f"function {name}() is not an ARM template function adu-fw knows")
        args = [self._arg(a, env) for a in arg_nodes]
        if lname not in LENIENT:
            for a in args:
                if isinstance(a, Unknown):
                    a.raise_()
        return fn(args)

    def _strs(self, name: str, arg_nodes: tuple, env: Env) -> list[Any]:
        out = []
        for a in arg_nodes:
            v = self._eval(a, env)
            if isinstance(v, Unknown):
                v.raise_()
            out.append(v)
        return out

    # -- user-defined functions ------------------------------------------------------------------------------------
    @staticmethod
    def _read_functions(raw: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if isinstance(raw, list):
            for ns in raw:
                if not isinstance(ns, dict):
                    continue
                nsl = lower_keys(ns)
                namespace, members = nsl.get("namespace"), nsl.get("members")
                if isinstance(namespace, str) and isinstance(members, dict):
                    for mname, spec in members.items():
                        out[f"{namespace}.{mname}".lower()] = spec
        return out

    def _udf(self, name: str, lname: str, arg_nodes: tuple, env: Env) -> Any:
        spec = self.functions.get(lname)
        if not isinstance(spec, dict):
            raise Unresolved(f"function {name}() is not defined in the template's functions")
        s = lower_keys(spec)
        declared = s.get("parameters")
        params = [lower_keys(p).get("name") for p in (declared if isinstance(declared, list) else []) if isinstance(p, dict)]
        if not all(isinstance(p, str) for p in params):
            raise Unresolved(f"user-defined function {name}() has a parameter without a name")
        args = [self._arg(a, env) for a in arg_nodes]
        if len(args) != len(params):
            raise Unresolved(f"{name}() takes {len(params)} argument(s), got {len(args)}")
        output = lower_keys(s.get("output")) if isinstance(s.get("output"), dict) else {}
        if "value" not in output:
            raise Unresolved(f"user-defined function {name}() has no output value")
        body = Scope({}, self.ctx, given=dict(zip(params, args)), parent=self, path=self.path, udf=True,
                     functions=self.functions, deployment_name=self.deployment_name, resource_group=self.resource_group,
                     subscription_id=self.subscription_id)
        if self.depth > MAX_DEPTH:
            raise Unresolved(f"{name}() calls itself too deeply")
        result = body.resolve(output["value"])
        return result

    # -- deployment context ------------------------------------------------------------------------------------------
    def rg_name(self) -> Any:
        """This scope's resource group (a nested deployment's own, the given one, or the stand-in)."""
        return _first_given(self.resource_group, self.ctx.deployment.resource_group, STANDIN_RESOURCE_GROUP, "--resource-group")

    def sub_id(self) -> Any:
        return _first_given(self.subscription_id, self.ctx.deployment.subscription_id, STANDIN_SUBSCRIPTION_ID,
                            "--subscription-id")

    def location(self) -> Any:
        if self.ctx.deployment.location is not None:
            return self.ctx.deployment.location
        return Unknown(Unresolved("the deployment's location is not known offline: pass --location REGION"))

    def _known(self, value: Any) -> str:
        if isinstance(value, Unknown):
            value.raise_()
        if isinstance(value, StandIn):
            self.ctx.record("standin", value.option)
        return str(value)

    def resource_id(self, args: list[Any], *, kind: str = "rg") -> str:
        type_at = next((i for i, a in enumerate(args) if isinstance(a, str) and "/" in a and "." in a.split("/")[0]), None)
        if type_at is None:
            type_at = next((i for i, a in enumerate(args) if isinstance(a, str) and "/" in a), None)
        if type_at is None:
            raise Unresolved("resourceId() needs a resource type such as 'Microsoft.Network/networkSecurityGroups'")
        rtype = args[type_at]
        names = [text(a) for a in args[type_at + 1:]]
        parts = rtype.split("/")
        segs = [parts[0]]
        for i, t in enumerate(parts[1:]):
            segs += [t, names[i] if i < len(names) else ""]
        tail = "/providers/" + "/".join(segs)
        before = args[:type_at]
        if kind == "tenant":
            return tail
        if kind == "sub":
            sub = text(before[0]) if before else self._known(self.sub_id())
            return f"/subscriptions/{sub}{tail}"
        if len(before) >= 2:
            sub, rg = text(before[0]), text(before[1])
        elif len(before) == 1:
            sub, rg = self._known(self.sub_id()), text(before[0])
        else:
            sub, rg = self._known(self.sub_id()), self._known(self.rg_name())
        return f"/subscriptions/{sub}/resourceGroups/{rg}{tail}"

    def nested(self, resource: Mapping[str, Any], env: Env, *, name: Any, path: str) -> "tuple[Scope, Env, dict[str, Any]] | None":
        """The scope a nested deployment's template is evaluated in, its loop env and its template."""
        props = resource.get("properties")
        props = lower_keys(props) if isinstance(props, dict) else {}
        template = props.get("template")
        if not isinstance(template, dict):
            return None
        opts = props.get("expressionevaluationoptions")
        scope_kind = "outer"
        if isinstance(opts, dict):
            raw = lower_keys(opts).get("scope")
            scope_kind = str(self.resolve(raw, env)).lower() if raw is not None else "outer"
        tlow = lower_keys(template)
        if scope_kind != "inner" and tlow.get("languageversion") is None:
            return self, env, template
        given: dict[str, Any] = {}
        raw_params = props.get("parameters")
        if is_expression(raw_params):  # the whole parameters object built by an expression
            raw_params = self.resolve(raw_params, env)
            if isinstance(raw_params, Unknown):
                bad = raw_params
                raw_params = {k: bad for k in lower_keys(tlow.get("parameters") or {})}
        if isinstance(raw_params, dict):
            for pname, pval in raw_params.items():
                if isinstance(pval, Unknown):
                    given[pname] = pval
                elif is_expression(pval):  # Bicep writes optional module parameters as "[if(..., createObject('value', x), ...)]"
                    given[pname] = Thunk(lambda rv=pval, n=pname: _parameter_value(self.resolve(rv, env), n, path))
                elif isinstance(pval, dict):
                    given[pname] = Thunk(lambda rv=pval, n=pname: _parameter_value(self.resolve(rv, env), n, path))
        rg = resource.get("resourcegroup")
        sub = resource.get("subscriptionid")
        scope = Scope(
            template, self.ctx, given=given, parent=self, path=path,
            deployment_name=name,
            resource_group=self.resolve(rg, env) if rg is not None else self.resource_group,
            subscription_id=self.resolve(sub, env) if sub is not None else self.subscription_id,
        )
        return scope, Env(), template

    # -- reference() and list*() ------------------------------------------------------------------------------------
    def _candidates(self, target: Any) -> list[str]:
        if not isinstance(target, str):
            raise Unresolved(f"reference() expects a resource id or name, got {describe_type(target)}")
        cands = [target]
        if "/" in target:
            cands.append(target.rstrip("/").split("/")[-1])
        sym = self.symbolic.get(target.lower())
        if sym is not None:
            name = self.resolve(sym.get("name"))
            if isinstance(name, str):
                cands += [name, name.split("/")[-1]]
        return cands

    def reference(self, target: Any, full: bool) -> Any:
        cands = self._candidates(target)
        given = self.ctx.deployment.reference_for(cands)
        if given is not None:
            return {"properties": given, "id": target} if full else given
        outputs = self._deployment_outputs(target)
        if outputs is not None:
            return {"properties": {"outputs": outputs}} if full else {"outputs": outputs}
        short = cands[1] if len(cands) > 1 else cands[0]
        return MissingReference(f"reference({_shown(target)})", short)

    def _list_fn(self, name: str, args: list[Any]) -> Any:
        target = force(args[0]) if args else None
        cands = self._candidates(target) if isinstance(target, str) else []
        given = self.ctx.deployment.reference_for(cands) if cands else None
        if given is not None:
            return given
        short = cands[1] if len(cands) > 1 else (cands[0] if cands else "NAME")
        return MissingReference(f"{name}({_shown(target)})", short)

    def _deployment_outputs(self, target: str) -> Any:
        """``reference(<nested deployment>).outputs``: computed from the nested template, which is pure."""
        want = target.rstrip("/").split("/")[-1].lower()
        is_deployment_id = "/microsoft.resources/deployments/" in target.lower() or "/" not in target
        if not is_deployment_id:
            return None
        resources = self.template.get("resources")
        items = resources.items() if isinstance(resources, dict) else ((None, r) for r in resources or [])
        for sym, res in items:
            if not isinstance(res, dict):
                continue
            low = lower_keys(res)
            if str(low.get("type", "")).lower() != "microsoft.resources/deployments":
                continue
            if sym is not None and sym.lower() == target.lower():
                envs = [Env()]
            else:
                envs = list(self._instances(low))
            for env in envs:
                name = self.resolve(low.get("name"), env)
                if not (sym is not None and sym.lower() == target.lower()) and not (isinstance(name, str) and name.lower() == want):
                    continue
                nested = self.nested(low, env, name=name, path=f"{self.path + ' > ' if self.path else ''}deployment {name!r}")
                if nested is None:
                    return None
                scope, _, template = nested
                outs = lower_keys(template).get("outputs")
                result: dict[str, Any] = {}
                for oname, ospec in (outs or {}).items():
                    if not isinstance(ospec, dict):
                        continue
                    ol = lower_keys(ospec)
                    if isinstance(ol.get("copy"), dict):
                        value: Any = scope._copy_list(ol["copy"], Env(), f"output copy {oname!r}")
                    else:
                        value = scope.resolve(ol.get("value"))
                    result[oname] = {"type": ol.get("type"), "value": value}
                return result
        return None

    def _instances(self, low: Mapping[str, Any]) -> Iterator[Env]:
        copy = low.get("copy")
        if not isinstance(copy, dict):
            yield Env()
            return
        cl = lower_keys(copy)
        try:
            count = self._count(cl.get("count"), Env(), f"copy {cl.get('name')!r}")
        except Unresolved:
            return
        for i in range(count):
            yield Env().with_loop(cl.get("name"), i, resource=True)


# -- special forms: functions that need the scope, the loop env or unevaluated arguments --------------------------
def _one_str(scope: Scope, name: str, arg_nodes: tuple, env: Env) -> str:
    args = scope._strs(name, arg_nodes, env)
    if len(args) != 1 or not isinstance(args[0], str):
        raise Unresolved(f"{name}() takes one string")
    return args[0]


def _copy_index(scope: Scope, name: str, arg_nodes: tuple, env: Env) -> Any:
    args = scope._strs(name, arg_nodes, env)
    loop: str | None = None
    offset = 0
    if args and isinstance(args[0], str):
        loop = args[0].lower()
        args = args[1:]
    if args:
        if isinstance(args[0], bool) or not isinstance(args[0], int):
            raise Unresolved("copyIndex() offset must be an integer")
        offset = args[0]
    if loop not in env.loops:
        where = f"loop {loop!r}" if loop else "a copy loop"
        raise Unresolved(f"copyIndex() used outside {where}")
    return env.loops[loop] + offset


def _lambda(scope: Scope, name: str, arg_nodes: tuple, env: Env) -> Any:
    if not arg_nodes:
        raise Unresolved("lambda() needs a body")
    params = [scope._eval(a, env) for a in arg_nodes[:-1]]
    if not all(isinstance(p, str) for p in params):
        raise Unresolved("lambda() parameter names are strings")
    return Lambda(params, arg_nodes[-1], env, scope)


def _lambda_variables(scope: Scope, name: str, arg_nodes: tuple, env: Env) -> Any:
    key = _one_str(scope, name, arg_nodes, env).lower()
    if key not in env.lambdas:
        raise Unresolved(f"lambdaVariables({key!r}) used outside its lambda")
    return env.lambdas[key]


def _higher(kind: str) -> Callable[[Scope, str, tuple, Env], Any]:
    def fn(scope: Scope, name: str, arg_nodes: tuple, env: Env) -> Any:
        args = [scope._arg(a, env) for a in arg_nodes]
        for a in args:
            if isinstance(a, Unknown):
                a.raise_()
        lambdas = [a for a in args if isinstance(a, Lambda)]
        if not lambdas:
            raise Unresolved(f"{name}() needs a lambda")
        f = lambdas[0]

        def call(*values: Any) -> Any:
            try:
                return f(*values[: max(1, len(f.params))])
            except Unresolved as exc:
                return Unknown(exc)

        data = args[0]
        if kind == "mapvalues":
            if not isinstance(data, dict):
                raise Unresolved(f"{name}() expects an object")
            return {k: call(v) for k, v in data.items()}
        if not isinstance(data, list):
            raise Unresolved(f"{name}() expects an array, got {describe_type(data)}")
        if kind == "map":
            return [call(x, i) for i, x in enumerate(data)]
        if kind == "filter":
            return [x for i, x in enumerate(data) if force(call(x, i)) is True]
        if kind == "reduce":
            acc = args[1]
            for i, x in enumerate(data):
                acc = force(f(*(acc, x, i)[: max(2, len(f.params))]))
            return acc
        if kind == "sort":
            import functools

            def cmp(a: Any, b: Any) -> int:
                return -1 if force(f(a, b)) is True else (1 if force(f(b, a)) is True else 0)

            return sorted(data, key=functools.cmp_to_key(cmp))
        if kind == "toobject":
            out: dict[str, Any] = {}
            value_fn = lambdas[1] if len(lambdas) > 1 else None
            for x in data:
                key = force(f(x))
                out[text(key)] = value_fn(x) if value_fn is not None else x
            return out
        if kind == "groupby":
            groups: dict[str, list[Any]] = {}
            for x in data:
                groups.setdefault(text(force(f(x))), []).append(x)
            return groups
        raise Unresolved(f"{name}() is not supported")  # pragma: no cover

    return fn


def _parameters(scope: Scope, name: str, arg_nodes: tuple, env: Env) -> Any:
    pname = _one_str(scope, name, arg_nodes, env)
    try:
        value = scope.parameter(pname)
    except Unresolved:
        if scope.ctx.placeholders:
            return pname
        raise
    return pname if scope.ctx.placeholders and isinstance(value, Unknown) else value


def _variables(scope: Scope, name: str, arg_nodes: tuple, env: Env) -> Any:
    vname = _one_str(scope, name, arg_nodes, env)
    value = scope.variable(vname)
    return vname if scope.ctx.placeholders and isinstance(value, Unknown) else value


def _resource_group(scope: Scope, name: str, arg_nodes: tuple, env: Env) -> Any:
    rg, sub = scope.rg_name(), scope.sub_id()
    rid: Any
    if isinstance(rg, Unknown) or isinstance(sub, Unknown):
        rid = rg if isinstance(rg, Unknown) else sub
    else:
        rid = f"/subscriptions/{sub}/resourceGroups/{rg}"
        if isinstance(rg, StandIn) or isinstance(sub, StandIn):
            rid = StandIn(rid, rg.option if isinstance(rg, StandIn) else sub.option)  # type: ignore[union-attr]
    return {"id": rid, "name": rg, "type": "Microsoft.Resources/resourceGroups", "location": scope.location(),
            "managedBy": None, "tags": {}, "properties": {"provisioningState": "Succeeded"}}


def _subscription(scope: Scope, name: str, arg_nodes: tuple, env: Env) -> Any:
    sub = scope.sub_id()
    tenant = scope.ctx.deployment.tenant_id or STANDIN_TENANT_ID
    rid = sub if isinstance(sub, Unknown) else (StandIn(f"/subscriptions/{sub}", sub.option) if isinstance(sub, StandIn)
                                                 else f"/subscriptions/{sub}")
    return {"id": rid, "subscriptionId": sub, "tenantId": tenant, "displayName": StandIn("subscription", "--subscription-id")}


def _tenant(scope: Scope, name: str, arg_nodes: tuple, env: Env) -> Any:
    tenant = scope.ctx.deployment.tenant_id or STANDIN_TENANT_ID
    return {"id": f"/tenants/{tenant}", "tenantId": tenant, "countryCode": "", "displayName": "tenant"}


def _management_group(scope: Scope, name: str, arg_nodes: tuple, env: Env) -> Any:
    raise Unresolved("managementGroup() is known only in a management-group deployment, not offline")


def _deployment(scope: Scope, name: str, arg_nodes: tuple, env: Env) -> Any:
    dname = scope.deployment_name if scope.deployment_name is not None else (
        scope.ctx.deployment.name or scope.ctx.default_name)
    template = {k: v for k, v in scope.template.items() if k in ("$schema", "contentversion")}
    return {
        "name": dname,
        "location": scope.location(),
        "properties": {
            "template": {"$schema": template.get("$schema", ""), "contentVersion": template.get("contentversion", "1.0.0.0")},
            "templateLink": {"uri": Unknown(Unresolved("deployment().properties.templateLink: the template's URL is not known offline")),
                             "id": Unknown(Unresolved("deployment().properties.templateLink: not known offline"))},
            "parameters": {},
            "mode": "Incremental",
            "provisioningState": "Accepted",
        },
    }


def _environment(scope: Scope, name: str, arg_nodes: tuple, env: Env) -> Any:
    return json.loads(json.dumps(ENVIRONMENT_PUBLIC))


def _resource_id_fn(kind: str) -> Callable[[Scope, str, tuple, Env], Any]:
    def fn(scope: Scope, name: str, arg_nodes: tuple, env: Env) -> Any:
        return scope.resource_id(scope._strs(name, arg_nodes, env), kind=kind)

    return fn


def _extension_resource_id(scope: Scope, name: str, arg_nodes: tuple, env: Env) -> Any:
    args = scope._strs(name, arg_nodes, env)
    if len(args) < 2:
        raise Unresolved("extensionResourceId() takes a resource id, a type and names")
    base, rtype, names = text(args[0]), text(args[1]), [text(a) for a in args[2:]]
    parts = rtype.split("/")
    segs = [parts[0]]
    for i, t in enumerate(parts[1:]):
        segs += [t, names[i] if i < len(names) else ""]
    return f"{base.rstrip('/')}/providers/" + "/".join(segs)


def _mg_resource_id(scope: Scope, name: str, arg_nodes: tuple, env: Env) -> Any:
    args = scope._strs(name, arg_nodes, env)
    if args and isinstance(args[0], str) and "/" not in args[0]:
        mg, rest = args[0], args[1:]
        return f"/providers/Microsoft.Management/managementGroups/{mg}" + scope.resource_id(rest, kind="tenant")
    raise Unresolved("managementGroupResourceId() without a management group is known only in a management-group deployment")


def _reference(scope: Scope, name: str, arg_nodes: tuple, env: Env) -> Any:
    args = scope._strs(name, arg_nodes, env)
    if not args:
        raise Unresolved("reference() needs a resource")
    full = any(isinstance(a, str) and a.lower() == "full" for a in args[1:])
    return scope.reference(args[0], full)


def _resource_info(scope: Scope, name: str, arg_nodes: tuple, env: Env) -> Any:
    sym = _one_str(scope, name, arg_nodes, env)
    res = scope.symbolic.get(sym.lower())
    if res is None:
        raise Unresolved(f"resourceInfo({sym!r}): no resource has that symbolic name")
    rname = force(scope.resolve(res.get("name"), env))
    rtype = str(res.get("type"))
    return {"id": scope.resource_id([rtype] + str(rname).split("/")), "name": rname, "type": rtype,
            "apiVersion": res.get("apiversion")}


_SPECIAL: dict[str, Callable[[Scope, str, tuple, Env], Any]] = {
    "parameters": _parameters,
    "variables": _variables,
    "copyindex": _copy_index,
    "lambda": _lambda,
    "lambdavariables": _lambda_variables,
    "map": _higher("map"),
    "filter": _higher("filter"),
    "reduce": _higher("reduce"),
    "sort": _higher("sort"),
    "toobject": _higher("toobject"),
    "groupby": _higher("groupby"),
    "mapvalues": _higher("mapvalues"),
    "resourcegroup": _resource_group,
    "subscription": _subscription,
    "tenant": _tenant,
    "managementgroup": _management_group,
    "deployment": _deployment,
    "environment": _environment,
    "resourceid": _resource_id_fn("rg"),
    "subscriptionresourceid": _resource_id_fn("sub"),
    "tenantresourceid": _resource_id_fn("tenant"),
    "extensionresourceid": _extension_resource_id,
    "managementgroupresourceid": _mg_resource_id,
    "reference": _reference,
    "resourceinfo": _resource_info,
}


def _parameter_value(entry: Any, name: str, path: str) -> Any:
    """``{"value": x}`` -> x, as a deployment passes a parameter to its nested template."""
    if isinstance(entry, Unknown):
        return entry
    if isinstance(entry, dict):
        low = lower_keys(entry)
        if "value" in low:
            return low["value"]
        if "reference" in low:
            return Unknown(Unresolved(f"parameter {name!r} of {path} comes from a Key Vault reference, which is not read offline"))
    return Unknown(Unresolved(f"parameter {name!r} of {path} is not given as {{\"value\": ...}}"))


def _first_given(own: Any, given: Any, standin: str, option: str) -> Any:
    return own if own is not None else given if given is not None else StandIn(standin, option)


def _shown(target: Any) -> str:
    """A resource id as a person reads it: type and name, without the (often stand-in) scope."""
    if isinstance(target, str) and "/providers/" in target:
        tail = target.split("/providers/", 1)[1].split("/")
        return f"{tail[-2]} {tail[-1]!r}" if len(tail) >= 3 else repr(target)
    return repr(target)


def _coerce(value: Any, spec: Any, name: str) -> Any:
    """A user-given parameter value as the template declares it (``--param n=5`` for a string is "5")."""
    if isinstance(value, (Unknown, Thunk)) or not isinstance(spec, dict):
        return value
    ptype = str(lower_keys(spec).get("type") or "").lower()
    if ptype in ("string", "securestring") and not isinstance(value, str):
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return str(value)
        return value
    if ptype == "int" and isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    if ptype == "bool" and isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if ptype in ("array", "object", "secureobject") and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise Unresolved(f"parameter {name!r} is an {ptype}; the value given is not JSON: {value[:60]!r}") from None
    return value


def placeholder_name(scope: Scope, raw: Any, env: Env | None = None) -> str | None:
    """A name with every unknown parameter or variable written as its own name: the NSG named
    ``[concat('nsg-', variables('vnetName'), '-web')]`` becomes ``nsg-vnetName-web``, a handle a user
    can type without quoting (``FILE:nsg-vnetName-web``). None when even that cannot be built."""
    if not is_expression(raw):
        return None
    scope.ctx.placeholders = True
    try:
        value = scope.resolve(raw, env)
    finally:
        scope.ctx.placeholders = False
    return value if isinstance(value, str) and value else None
