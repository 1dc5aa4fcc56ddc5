"""Reading NSGs from every shape users have (docs/formats.md §3).

Shapes: ARM templates (NSG resources with inline rules, rules as separate
``networkSecurityGroups/securityRules`` resources, several NSGs per template, ARM expressions),
``az network nsg show`` output (flattened, with ``defaultSecurityRules``; ``az network nsg create``
wraps it as ``{"NewNSG": {...}}``), the REST GET body (nested under ``properties``), a REST list
(``{"value": [...]}``), and a plain list of rule objects.

Reading never drops a rule silently: every rule is either parsed or reported as an error that
names the file, NSG, rule and field. ``load_nsg`` raises the first error; ``read_nsgs`` returns
them all (``adu-fw lint``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from . import jsonio
from .arm import Deployment, Problem, Resource, Unknown, Unresolved, expand
from .arm.expr import name_handles
from .arm.scope import Context, EmptyDefault, Scope, placeholder_name
from .arm.values import first_unknown
from .errors import PolicyError
from .jsonpos import read_json
from .rules import MAX_RULES, Rule, default_rules, rule_from_properties

__all__ = ["NSG", "NsgList", "UnreadRule", "read_nsgs", "load_nsg", "split_ref", "select_nsg"]

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64


@dataclass
class NSG:
    """One network security group: its custom rules (validated) and what reading it found."""

    name: str
    rules: list[Rule]
    source: str | None = None
    vnet_prefixes: list[str] = field(default_factory=list)
    errors: list[PolicyError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    raw_name: str | None = None
    #: other names it can be selected by: its symbolic name (languageVersion 2.0), the variable or
    #: parameter that names it (``nsgName`` for ``[variables('nsgName')]``)
    aliases: list[str] = field(default_factory=list)
    #: where it is in the template (nested deployments, copy index), for messages
    path: str = ""
    #: rules set aside because they need a deployed resource's state (``reference()``): see ``uncertain``
    unread: list["UnreadRule"] = field(default_factory=list)
    #: (name, direction, priority) of every rule read, valid or not, for the NSG-wide checks
    identities: list[tuple[str, str, int | None]] = field(default_factory=list, repr=False)

    def evaluation_order(self, direction: str) -> list[Rule]:
        """Rules of one direction as Azure processes them: ascending priority, defaults last."""
        custom = sorted((r for r in self.rules if r.direction == direction), key=lambda r: r.priority)
        return custom + default_rules(direction)

    def rule(self, name: str) -> Rule:
        for r in self.rules + default_rules():
            if r.name.lower() == name.lower():
                return r
        raise KeyError(f"NSG {self.name!r} has no rule {name!r}")

    def uncertain(self, direction: str, priority: int | None) -> list["UnreadRule"]:
        """Set-aside rules that Azure could process before a rule of ``priority`` (None: the defaults)."""
        return [u for u in self.unread if (u.direction in (None, direction))
                and (u.priority is None or priority is None or u.priority < priority)]

    def raise_first(self) -> None:
        if self.errors:
            first = self.errors[0]
            if len(self.errors) > 1:
                first.message += f" (and {len(self.errors) - 1} more problem(s); adu-fw lint lists them all)"
                first.args = (first._render(),)
            raise first


@dataclass(frozen=True)
class UnreadRule:
    """A rule that could not be read offline, with what is known of its place in the evaluation order."""

    name: str
    direction: str | None
    priority: int | None
    reason: str


def _lower(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k.lower(): v for k, v in d.items() if isinstance(k, str)}


def _type_of(res: Mapping[str, Any]) -> str:
    t = _lower(res).get("type")
    return t.lower() if isinstance(t, str) else ""


def split_ref(ref: str) -> tuple[str, str | None]:
    """``FILE`` or ``FILE:NSGNAME`` (a Windows drive letter is not a name)."""
    if ":" in ref:
        path, _, name = ref.rpartition(":")
        if path and not (len(path) == 1 and path.isalpha()) and not Path(ref).exists():
            return path, name or None
    return ref, None


def _read_json(path: Path, what: str = "an NSG file") -> Any:
    """The document (BOM, comments, multi-line strings and long integers tolerated; ``jsonpos``), within
    the NSG file size limit."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise PolicyError(f"cannot read the file: {exc.strerror or exc}", file=str(path)) from None
    if size > MAX_FILE_BYTES:
        raise PolicyError(f"file is {size} bytes; the limit for {what} is {MAX_FILE_BYTES}", file=str(path))
    return read_json(path)


class NsgList(list):  # type: ignore[type-arg]
    """The NSGs of one document, plus what the document held that could not be read (``problems``)."""

    def __init__(self, items: Any = (), problems: list[Problem] | None = None, skipped: list[str] | None = None) -> None:
        super().__init__(items)
        self.problems: list[Problem] = problems or []
        #: NSG resources not deployed with these parameters (condition false), with the condition
        self.skipped: list[str] = skipped or []

    @property
    def warnings(self) -> list[str]:
        return [str(p) for p in self.problems]


def read_nsgs(
    source: str | Path | Any,
    *,
    params: Mapping[str, Any] | None = None,
    source_name: str | None = None,
    deployment: Deployment | Mapping[str, Any] | None = None,
) -> NsgList:
    """Every NSG in a file or parsed document, each with its rules, errors and warnings.

    ``params`` are template parameter values; ``deployment`` (:class:`adu_fw.arm.Deployment`) the
    resource group, location, subscription and ``reference()`` values a deployment would supply.
    The list's ``problems`` say what the document held that could not be read (a copy loop whose
    count is unknown, a linked template): lint reports them, policies warn about them.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        doc = _read_json(path)
        src = str(path)
        default_name = path.stem
    else:
        doc = source
        src = source_name
        default_name = source_name or "nsg"
    return _Reader(src, params or {}, Deployment.of(deployment), default_name).read(doc, default_name)


NSG_TYPE = "microsoft.network/networksecuritygroups"
RULE_TYPE = NSG_TYPE + "/securityrules"
VNET_TYPE = "microsoft.network/virtualnetworks"
SUBNET_TYPE = VNET_TYPE + "/subnets"
#: rule properties that decide what a rule matches (others may stay unknown without harm)
_MATCH_FIELDS = {
    "priority", "direction", "access", "protocol",
    "sourceaddressprefix", "sourceaddressprefixes", "destinationaddressprefix", "destinationaddressprefixes",
    "sourceportrange", "sourceportranges", "destinationportrange", "destinationportranges",
    "sourceapplicationsecuritygroups", "destinationapplicationsecuritygroups",
}


class _Reader:
    def __init__(self, source: str | None, params: Mapping[str, Any], deployment: Deployment | None = None,
                 default_name: str | None = None) -> None:
        self.source = source
        self.params = params
        self.deployment = deployment or Deployment()
        self.default_name = default_name or "nsg"

    def _flat_scope(self) -> Scope:
        return Scope({}, Context(self.deployment, self.source, self.default_name), given=dict(self.params), user_given=True)

    def read(self, doc: Any, default_name: str) -> NsgList:
        if isinstance(doc, list):
            if all(isinstance(x, dict) and _looks_like_rule(x) for x in doc):
                return NsgList([self._nsg(default_name, None, self._flat_scope().resolve(doc))])
            out = NsgList()
            for i, item in enumerate(doc):
                sub = self.read(item, f"{default_name}[{i}]")
                out += sub
                out.problems += sub.problems
            return out
        if not isinstance(doc, dict):
            raise PolicyError(f"expected a JSON object or list, got {type(doc).__name__}", file=self.source)
        top = _lower(doc)
        if isinstance(top.get("resources"), (list, dict)):
            return self._template(doc)
        if isinstance(top.get("value"), list):
            out = NsgList()
            for item in top["value"]:
                out += self.read(item, default_name)
            return out
        if _looks_like_nsg(top):
            return NsgList([self._single(top, default_name)])
        if len(top) == 1:  # az network nsg create: {"NewNSG": {...}}
            (inner,) = top.values()
            if isinstance(inner, dict) and _looks_like_nsg(_lower(inner)):
                return NsgList([self._single(_lower(inner), default_name)])
        raise PolicyError(
            "not an NSG definition: expected an ARM template (resources), az network nsg show output "
            "(securityRules), a REST body (properties.securityRules) or a list of rules",
            file=self.source,
        )

    def _single(self, top: dict[str, Any], default_name: str) -> NSG:
        props = _lower(top["properties"]) if isinstance(top.get("properties"), dict) else top
        name = top.get("name") if isinstance(top.get("name"), str) else default_name
        return self._nsg(name, None, self._flat_scope().resolve(props.get("securityrules") or []))

    # -- templates ---------------------------------------------------------------------------------------------
    def _template(self, doc: dict[str, Any]) -> NsgList:
        exp = expand(doc, [NSG_TYPE, RULE_TYPE, VNET_TYPE, SUBNET_TYPE], params=self.params, deployment=self.deployment,
                     source=self.source, default_name=self.default_name)
        ctx = exp.context
        assert ctx is not None
        out = NsgList(problems=list(exp.problems), skipped=list(exp.skipped))
        by_resource: dict[int, NSG] = {}
        for r in exp.resources:
            if r.type_lower == NSG_TYPE:
                nsg = self._nsg_resource(r, ctx)
                by_resource[id(r)] = nsg
                out.append(nsg)
        for r in exp.resources:
            if r.type_lower == RULE_TYPE:
                self._rule_resource(r, out, by_resource, ctx)
        self._attach_vnets(out, [r for r in exp.resources if r.type_lower in (VNET_TYPE, SUBNET_TYPE)])
        if not out:
            lost = [str(p) for p in exp.problems]
            if lost:
                raise PolicyError("no NSG of the template could be read: " + "; ".join(lost), file=self.source)
            if exp.skipped:
                raise PolicyError(
                    "the template deploys no NSG with these parameters: " + "; ".join(exp.skipped), file=self.source)
            raise PolicyError("the template defines no Microsoft.Network/networkSecurityGroups resource", file=self.source)
        return out

    def _name_of(self, r: Resource, ctx: Context, what: str) -> tuple[str, list[str], str | None]:
        """(display name, other handles to select it by, warning) of an NSG resource."""
        with ctx.tracking() as events:
            value = r.name()
        handles = [h for h in [r.symbolic] + name_handles(r.raw_name) if h]
        standins = sorted({w for k, w in events if k == "standin"})
        if isinstance(value, str):
            warn = None
            if standins:
                warn = (f"{what} name {value!r} is built from a stand-in value (not given: {', '.join(standins)}); "
                        "the rules are read all the same")
            return value, handles, warn
        reason = value.error if isinstance(value, Unknown) else f"it is {type(value).__name__}"
        shaped = placeholder_name(r.scope, r.raw.get("name"), r.env)
        if shaped and shaped not in handles:
            handles.insert(1 if r.symbolic else 0, shaped)
        display = r.symbolic or (handles[0] if handles else None) or r.raw_name or "nsg"
        choose = ", ".join(repr(h) for h in dict.fromkeys([display] + handles))
        return display, handles, f"{what} name {r.raw_name} not resolved ({reason}); select it as {choose} or #N"

    def _nsg_resource(self, r: Resource, ctx: Context) -> NSG:
        name, handles, warn = self._name_of(r, ctx, "NSG")
        nsg = NSG(name, [], self.source, raw_name=r.raw_name, aliases=handles, path=r.path)
        if warn:
            nsg.warnings.append(warn)
        if r.conditional:
            nsg.warnings.append(r.conditional)
        rules, defaults = self._rules_value(r, ctx)
        self._add_rule_list(nsg, rules)
        if not nsg.rules and not nsg.errors and defaults and isinstance(rules, list) and not rules:
            nsg.warnings.append(
                "no security rules: they come from " + ", ".join(f"parameter {d}" for d in sorted(defaults))
                + ", not given (its default applies); pass it with --param or --parameters FILE to read the real rules"
            )
        self._check_nsg(nsg)
        return nsg

    def _rules_value(self, r: Resource, ctx: Context) -> tuple[Any, set[str]]:
        """The NSG's securityRules value (Unknown parts kept) and the defaulted parameters it read."""
        raw_props = r.raw.get("properties")
        with ctx.tracking() as events:
            if isinstance(raw_props, str):
                props = r.evaluate(raw_props)
                if isinstance(props, Unknown):
                    value: Any = props
                elif isinstance(props, dict):
                    value = _lower(props).get("securityrules") or []
                else:
                    value = []
            elif isinstance(raw_props, dict):
                low = _lower(raw_props)
                value = []
                if "securityrules" in low:
                    value = r.evaluate(low["securityrules"])
                copies = low.get("copy")
                if isinstance(copies, list):
                    for entry in copies:
                        if isinstance(entry, dict) and str(_lower(entry).get("name", "")).lower() == "securityrules":
                            value = r.evaluate({"copy": [entry]}).get(_lower(entry).get("name"), [])
            else:
                value = []
        defaults = {w for k, w in events if k == "default"}
        if isinstance(value, EmptyDefault):
            defaults = {value.param}
        return (value if value is not None else []), defaults

    def _rule_resource(self, r: Resource, out: NsgList, by_resource: dict[int, NSG], ctx: Context) -> None:
        target = by_resource.get(id(r.parent)) if r.parent is not None else None
        if target is not None:
            rule_name = r.name()
        else:
            full = r.full_name()
            if not isinstance(full, str):
                reason = full.error if isinstance(full, Unknown) else "it is not text"
                label = r.symbolic or r.raw_name or "securityRules"
                target = next((n for n in out if n.name == label), None)
                if target is None:
                    target = NSG(label, [], self.source, raw_name=r.raw_name, aliases=[h for h in [r.symbolic] if h], path=r.path)
                    out.append(target)
                target.errors.append(PolicyError(
                    f"the rule resource's name {r.raw_name} cannot be resolved offline ({reason}), so neither the rule "
                    "nor the NSG it belongs to is known", file=self.source, record=f"rule resource {label!r}", field="name"))
                return
            nsg_name, _, rule_name = full.rpartition("/")
            target = next((n for n in out if n.name.lower() == nsg_name.lower()), None)
            if target is None:
                target = NSG(nsg_name or full, [], self.source, path=r.path)
                out.append(target)
        if r.conditional:
            target.warnings.append(f"rule {rule_name if isinstance(rule_name, str) else r.raw_name!r}: {r.conditional}")
        props = r.get("properties")
        item = {"name": rule_name, "properties": props}
        before = next((x for x in target.rules if isinstance(rule_name, str) and x.name.lower() == rule_name.lower()), None)
        if before is not None:  # the NSG's inline rule and a separate rule resource of the same name: one rule
            target.rules.remove(before)
            target.identities = [i for i in target.identities if i[0].lower() != before.name.lower()]
        self._add_rules(target, [item])
        if before is not None:
            after = next((x for x in target.rules if x.name.lower() == before.name.lower()), None)
            if after is not None and after != before:
                target.warnings.append(
                    f"rule {before.name!r} is defined inline and as a separate securityRules resource with different "
                    "properties; the separate resource (deployed after its NSG) is the one read")
        self._check_nsg(target)

    def _attach_vnets(self, nsgs: list[NSG], resources: list[Resource]) -> None:
        """An NSG's VirtualNetwork space comes from the template VNets whose subnets reference it."""
        spaces: dict[int, list[str]] = {}
        by_name: dict[str, list[str]] = {}
        links: list[tuple[list[str], Any]] = []  # (address space, subnet properties)
        for r in resources:
            if r.type_lower != VNET_TYPE:
                continue
            props = r.get("properties")
            space: list[str] = []
            if isinstance(props, dict):
                aspace = _lower(props).get("addressspace")
                prefixes = _lower(aspace).get("addressprefixes") if isinstance(aspace, dict) else None
                if isinstance(prefixes, list):
                    space = [p for p in prefixes if isinstance(p, str)]
                subnets = _lower(props).get("subnets")
                for sn in subnets if isinstance(subnets, list) else []:
                    if isinstance(sn, dict):
                        links.append((space, _lower(sn).get("properties")))
            spaces[id(r)] = space
            name = r.full_name()
            if isinstance(name, str):
                by_name[name.lower()] = space
        for r in resources:
            if r.type_lower != SUBNET_TYPE:
                continue
            if r.parent is not None and id(r.parent) in spaces:
                space = spaces[id(r.parent)]
            else:
                full = r.full_name()
                space = by_name.get(full.rpartition("/")[0].lower(), []) if isinstance(full, str) else []
            links.append((space, r.get("properties")))
        for space, snp in links:
            if not isinstance(snp, dict):
                continue
            ref = _lower(snp).get("networksecuritygroup")
            rid = _lower(ref).get("id") if isinstance(ref, dict) else None
            if not isinstance(rid, str):
                continue
            target = rid.rstrip("/").split("/")[-1].lower()
            for nsg in nsgs:
                if nsg.name.lower() == target:
                    for p in space:
                        if p not in nsg.vnet_prefixes:
                            nsg.vnet_prefixes.append(p)

    # -- rules ------------------------------------------------------------------------------------------------------
    def _nsg(self, name: str, raw_name: str | None, rules: Any) -> NSG:
        nsg = NSG(name, [], self.source, raw_name=raw_name)
        self._add_rule_list(nsg, rules)
        self._check_nsg(nsg)
        return nsg

    def _add_rule_list(self, nsg: NSG, rules: Any) -> None:
        if isinstance(rules, Unknown):
            nsg.errors.append(
                PolicyError(f"cannot be resolved offline: {rules.error}", file=self.source, record=f"NSG {nsg.name!r}", field="securityRules")
            )
            return
        if rules is None:
            return
        if not isinstance(rules, list):
            nsg.errors.append(
                PolicyError(f"expected a list of rules, got {type(rules).__name__}", file=self.source, record=f"NSG {nsg.name!r}", field="securityRules")
            )
            return
        self._add_rules(nsg, rules)

    def _add_rules(self, nsg: NSG, items: list[Any], ctx: Any = None) -> None:
        """Rules from values already resolved (unknown parts as ``Unknown``); ``ctx`` (an object with
        ``resolve``, as the Terraform reader passes) resolves them first."""
        if ctx is not None:
            try:
                items = [ctx.resolve(item) for item in items]
            except Unresolved as exc:
                nsg.errors.append(PolicyError(f"cannot be resolved offline: {exc}", file=self.source, record=f"NSG {nsg.name!r}"))
                return
        for i, item in enumerate(items):
            if isinstance(item, Unknown):
                nsg.errors.append(PolicyError(f"cannot be resolved offline: {item.error}", file=self.source,
                                              record=f"NSG {nsg.name!r} rule #{i + 1}"))
                continue
            if not isinstance(item, dict):
                nsg.errors.append(
                    PolicyError(f"expected a rule object, got {item!r}", file=self.source, record=f"NSG {nsg.name!r} rule #{i}")
                )
                continue
            low = _lower(item)
            props = low.get("properties") if isinstance(low.get("properties"), (dict, Unknown)) else low
            name = low.get("name")
            if isinstance(name, Unknown):
                nsg.errors.append(PolicyError(f"cannot be resolved offline: {name.error}", file=self.source,
                                              record=f"NSG {nsg.name!r} rule #{i + 1}", field="name"))
                continue
            if isinstance(props, Unknown):
                nsg.errors.append(PolicyError(f"cannot be resolved offline: {props.error}", file=self.source,
                                              record=f"NSG {nsg.name!r} rule {name!r}", field="properties"))
                continue
            resolved: dict[str, Any] = {}
            failed = False
            state: list[tuple[str, Unknown]] = []
            for key, value in props.items():
                bad = first_unknown(value)
                if bad is None:
                    resolved[key] = value
                elif key.lower() in _MATCH_FIELDS:
                    if bad.needs_state:
                        state.append((key, bad))
                        continue
                    failed = True
                    nsg.errors.append(
                        PolicyError(f"cannot be resolved offline: {bad.error}", file=self.source,
                                    record=f"NSG {nsg.name!r} rule {name!r}", field=key)
                    )
            if failed:
                continue
            if state:  # needs a deployed resource's state: set this rule aside, read the rest
                key, bad = state[0]
                ident = _identity(name, resolved)
                reason = f"field {key!r}: {bad.error}"
                nsg.unread.append(UnreadRule(str(name), ident[1] or None, ident[2], reason))
                nsg.warnings.append(f"rule {name!r} not read ({reason}); the rest of the NSG is read, and answers it "
                                    "could change are marked uncertain")
                continue
            rule, errors, warnings = rule_from_properties(name, resolved, nsg=nsg.name, source=self.source)
            nsg.identities.append(_identity(name, resolved))
            nsg.errors += errors
            nsg.warnings += [f"rule {name!r}: {w}" for w in warnings]
            if rule is not None:
                nsg.rules.append(rule)

    def _check_nsg(self, nsg: NSG) -> None:
        """NSG-wide rules: unique names, unique priority per direction, the rule count limit."""
        seen_names: dict[str, str] = {}
        seen_prio: dict[tuple[str, int], str] = {}
        where = f"NSG {nsg.name!r}"
        # re-checks run after each loose rule is added: keep only the latest NSG-wide findings
        nsg.errors = [e for e in nsg.errors if not getattr(e, "_nsg_wide", False)]
        for name, direction, priority in nsg.identities:
            key = name.lower()
            if key in seen_names:
                self._nsg_error(nsg, f"duplicate rule name {name!r} (names are unique in an NSG)", f"{where} rule {name!r}", "name")
            seen_names[key] = name
            if priority is None or not direction:
                continue
            pk = (direction, priority)
            if pk in seen_prio:
                self._nsg_error(
                    nsg,
                    f"priority {priority} is already used by {seen_prio[pk]!r} for {direction} "
                    "(unique per NSG and direction)",
                    f"{where} rule {name!r}",
                    "priority",
                )
            else:
                seen_prio[pk] = name
        if len(nsg.identities) > MAX_RULES:
            self._nsg_error(nsg, f"{len(nsg.identities)} rules; an NSG holds at most {MAX_RULES}", where, "securityRules")

    def _nsg_error(self, nsg: NSG, message: str, record: str, fld: str) -> None:
        err = PolicyError(message, file=self.source, record=record, field=fld)
        err._nsg_wide = True  # type: ignore[attr-defined]
        nsg.errors.append(err)


def _identity(name: Any, props: dict[str, Any]) -> tuple[str, str, int | None]:
    low = _lower(props)
    prio = low.get("priority")
    direction = low.get("direction")
    return (
        name if isinstance(name, str) else repr(name),
        direction.strip().capitalize() if isinstance(direction, str) else "",
        jsonio.small_int(prio),
    )


def _looks_like_rule(d: dict[str, Any]) -> bool:
    low = _lower(d)
    props = low.get("properties")
    probe = _lower(props) if isinstance(props, dict) else low
    return "priority" in probe and "direction" in probe


def _looks_like_nsg(top: dict[str, Any]) -> bool:
    if "securityrules" in top or "defaultsecurityrules" in top:
        return True
    props = top.get("properties")
    if isinstance(props, dict):
        lp = _lower(props)
        return "securityrules" in lp or "defaultsecurityrules" in lp
    t = top.get("type")
    return isinstance(t, str) and t.lower().endswith("networksecuritygroups")


def _handles(n: NSG) -> list[str]:
    return [h for h in [n.name, n.raw_name or ""] + list(n.aliases) if h]


def select_nsg(nsgs: list[NSG], name: str | None, source: str | None) -> NSG:
    """The NSG called ``name``: its resolved name, its raw name expression, its symbolic name or the
    variable/parameter naming it (``NSG.aliases``), or ``#N`` (1-based), case-insensitively."""
    if name is None:
        if len(nsgs) == 1:
            return nsgs[0]
        raise PolicyError(f"the file holds {len(nsgs)} NSGs ({_listing(nsgs)}); choose one with FILE:NSGNAME", file=source)
    if name.startswith("#") and name[1:].isdigit():
        i = int(name[1:])
        if 1 <= i <= len(nsgs):
            return nsgs[i - 1]
        raise PolicyError(f"{name}: the file holds {len(nsgs)} NSG(s) ({_listing(nsgs)})", file=source)
    want = name.lower()
    for pick in (lambda n: n.name.lower() == want, lambda n: (n.raw_name or "").lower() == want,
                 lambda n: want in (a.lower() for a in n.aliases)):
        found = [n for n in nsgs if pick(n)]
        if len(found) == 1:
            return found[0]
        if found:
            which = ", ".join(f"#{nsgs.index(n) + 1} ({n.path or n.name})" for n in found)
            raise PolicyError(f"{len(found)} NSGs answer to {name!r}: {which}; choose one with FILE:#N", file=source)
    extra = ""
    problems = getattr(nsgs, "problems", None)
    skipped = getattr(nsgs, "skipped", None)
    if skipped:
        extra += "; not deployed with these parameters: " + "; ".join(skipped)
    if problems:
        extra += "; not read: " + "; ".join(str(p) for p in problems)
    raise PolicyError(f"no NSG named {name!r}; the file holds {_listing(nsgs)}{extra}", file=source)


def _listing(nsgs: list[NSG]) -> str:
    parts = []
    for i, n in enumerate(nsgs, 1):
        other = [a for a in n.aliases if a.lower() != n.name.lower()]
        parts.append(f"#{i} {n.name!r}" + (f" (also {', '.join(map(repr, other))})" if other else ""))
    return ", ".join(parts)


def load_nsg(
    source: str | Path | Any,
    *,
    name: str | None = None,
    params: Mapping[str, Any] | None = None,
    deployment: Deployment | Mapping[str, Any] | None = None,
) -> NSG:
    """One NSG, validated: raises the first PolicyError (``FILE:NAME`` selects in a multi-NSG file).

    What the document held but could not read (``NsgList.problems``) becomes warnings of the NSG.
    """
    src_name = None
    if isinstance(source, str) and name is None:
        source, name = split_ref(source)
    if isinstance(source, (str, Path)):
        src_name = str(source)
    nsgs = read_nsgs(source, params=params, deployment=deployment)
    nsg = select_nsg(nsgs, name, src_name)
    nsg.raise_first()
    for p in nsgs.problems:
        w = f"elsewhere in the document: {p}"
        if w not in nsg.warnings:
            nsg.warnings.append(w)
    return nsg
