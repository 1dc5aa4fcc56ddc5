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

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from . import jsonio
from .arm import ArmContext, Unresolved, is_expression
from .errors import PolicyError
from .rules import MAX_RULES, Rule, default_rules, rule_from_properties

__all__ = ["NSG", "read_nsgs", "load_nsg", "split_ref", "select_nsg"]

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

    def raise_first(self) -> None:
        if self.errors:
            first = self.errors[0]
            if len(self.errors) > 1:
                first.message += f" (and {len(self.errors) - 1} more problem(s); adu-fw lint lists them all)"
                first.args = (first._render(),)
            raise first


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


def _read_json(path: Path) -> Any:
    source = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise PolicyError(f"file is {size} bytes; the limit for an NSG file is {MAX_FILE_BYTES}", file=source)
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read the file: {exc.strerror or exc}", file=source) from None
    try:
        return jsonio.loads(raw.decode("utf-8-sig"))  # a number too long to convert stays text
    except UnicodeDecodeError as exc:
        raise PolicyError(f"not UTF-8 text (byte {exc.start})", file=source) from None
    except json.JSONDecodeError as exc:
        raise PolicyError(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", file=source) from None
    except RecursionError:
        raise PolicyError("JSON nesting is too deep", file=source) from None


def read_nsgs(
    source: str | Path | Any, *, params: Mapping[str, Any] | None = None, source_name: str | None = None
) -> list[NSG]:
    """Every NSG in a file or parsed document, each with its rules, errors and warnings."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        doc = _read_json(path)
        src = str(path)
        default_name = path.stem
    else:
        doc = source
        src = source_name
        default_name = source_name or "nsg"
    return _Reader(src, params or {}).read(doc, default_name)


class _Reader:
    def __init__(self, source: str | None, params: Mapping[str, Any]) -> None:
        self.source = source
        self.params = params

    def read(self, doc: Any, default_name: str) -> list[NSG]:
        if isinstance(doc, list):
            if all(isinstance(x, dict) and _looks_like_rule(x) for x in doc):
                return [self._nsg(default_name, None, doc, ArmContext(values=self.params))]
            out: list[NSG] = []
            for i, item in enumerate(doc):
                out += self.read(item, f"{default_name}[{i}]")
            return out
        if not isinstance(doc, dict):
            raise PolicyError(f"expected a JSON object or list, got {type(doc).__name__}", file=self.source)
        top = _lower(doc)
        if isinstance(top.get("resources"), list):
            return self._template(top)
        if isinstance(top.get("value"), list):
            return [n for item in top["value"] for n in self.read(item, default_name)]
        if _looks_like_nsg(top):
            return [self._single(top, default_name)]
        if len(top) == 1:  # az network nsg create: {"NewNSG": {...}}
            (inner,) = top.values()
            if isinstance(inner, dict) and _looks_like_nsg(_lower(inner)):
                return [self._single(_lower(inner), default_name)]
        raise PolicyError(
            "not an NSG definition: expected an ARM template (resources), az network nsg show output "
            "(securityRules), a REST body (properties.securityRules) or a list of rules",
            file=self.source,
        )

    def _single(self, top: dict[str, Any], default_name: str) -> NSG:
        ctx = ArmContext(values=self.params)
        props = _lower(top["properties"]) if isinstance(top.get("properties"), dict) else top
        name = top.get("name") if isinstance(top.get("name"), str) else default_name
        return self._nsg(name, None, props.get("securityrules") or [], ctx)

    def _template(self, top: dict[str, Any]) -> list[NSG]:
        ctx = ArmContext(top.get("parameters") or {}, top.get("variables") or {}, self.params)
        nsg_res: list[tuple[dict[str, Any], list[Any]]] = []
        loose_rules: list[tuple[str, dict[str, Any]]] = []  # ("nsgName/ruleName" resources)
        vnets: list[dict[str, Any]] = []

        def walk(resources: Any, parent_type: str, depth: int) -> None:
            if depth > MAX_DEPTH or not isinstance(resources, list):
                return
            for res in resources:
                if not isinstance(res, dict):
                    continue
                t = _type_of(res)
                # nested resources spell their type relative to the parent ("securityRules")
                full = t if t.startswith("microsoft.") or not parent_type else f"{parent_type}/{t}"
                low = _lower(res)
                if full.endswith("microsoft.network/networksecuritygroups"):
                    props = low.get("properties")
                    inline = (_lower(props).get("securityrules") if isinstance(props, dict) else None) or []
                    nsg_res.append((low, inline))
                    children = [c for c in low.get("resources") or [] if isinstance(c, dict)]
                    rule_children = [c for c in children if _type_of(c).endswith("securityrules")]
                    if rule_children and isinstance(inline, list):
                        nsg_res[-1] = (low, inline + rule_children)
                    continue_walk = [c for c in children if c not in rule_children]
                    walk(continue_walk, full, depth + 1)
                    continue
                elif full.endswith("networksecuritygroups/securityrules"):
                    loose_rules.append((full, low))
                elif full.endswith("microsoft.network/virtualnetworks"):
                    vnets.append(low)
                walk(low.get("resources"), full, depth + 1)

        walk(top["resources"], "", 0)
        out = []
        for low, inline in nsg_res:
            raw = low.get("name")
            name, warn = self._resolve_name(raw, ctx)
            nsg = self._nsg(name, raw if isinstance(raw, str) else None, inline, ctx)
            if warn:
                nsg.warnings.append(warn)
            out.append(nsg)
        for _, low in loose_rules:
            raw = low.get("name")
            full_name, warn = self._resolve_name(raw, ctx)
            nsg_name, _, rule_name = full_name.rpartition("/")
            target = next((n for n in out if n.name.lower() == nsg_name.lower()), None)
            if target is None:
                target = NSG(nsg_name or full_name, [], self.source)
                out.append(target)
            item = dict(low)
            item["name"] = rule_name or full_name
            self._add_rules(target, [item], ctx)
            self._check_nsg(target)
        self._attach_vnets(out, vnets, ctx)
        if not out:
            raise PolicyError("the template defines no Microsoft.Network/networkSecurityGroups resource", file=self.source)
        return out

    def _resolve_name(self, raw: Any, ctx: ArmContext) -> tuple[str, str | None]:
        if not isinstance(raw, str):
            return "nsg", "NSG resource without a name"
        if not is_expression(raw):
            return raw, None
        try:
            value = ctx.resolve(raw)
            if isinstance(value, str):
                return value, None
        except Unresolved as exc:
            return raw, f"NSG name {raw} not resolved ({exc}); select it by that text or pass --param"
        return raw, None

    def _attach_vnets(self, nsgs: list[NSG], vnets: list[dict[str, Any]], ctx: ArmContext) -> None:
        """An NSG's VirtualNetwork space comes from the template VNets whose subnets reference it."""
        for vnet in vnets:
            props = vnet.get("properties")
            if not isinstance(props, dict):
                continue
            props = _lower(props)
            try:
                space = ctx.resolve((_lower(props.get("addressspace") or {})).get("addressprefixes") or [])
            except Unresolved:
                space = []
            subnets = list(props.get("subnets") or []) + [
                r for r in vnet.get("resources") or [] if isinstance(r, dict) and _type_of(r).endswith("subnets")
            ]
            for sn in subnets:
                if not isinstance(sn, dict):
                    continue
                snp = _lower(sn).get("properties")
                if not isinstance(snp, dict):
                    continue
                ref = _lower(snp).get("networksecuritygroup")
                if not isinstance(ref, dict):
                    continue
                try:
                    rid = ctx.resolve(_lower(ref).get("id"))
                except Unresolved:
                    continue
                if not isinstance(rid, str):
                    continue
                target = rid.rstrip("/").split("/")[-1].lower()
                for nsg in nsgs:
                    if nsg.name.lower() == target:
                        for p in space if isinstance(space, list) else []:
                            if isinstance(p, str) and p not in nsg.vnet_prefixes:
                                nsg.vnet_prefixes.append(p)

    def _nsg(self, name: str, raw_name: str | None, rules: Any, ctx: ArmContext) -> NSG:
        nsg = NSG(name, [], self.source, raw_name=raw_name)
        if isinstance(rules, str):
            try:
                rules = ctx.resolve(rules)
            except Unresolved as exc:
                nsg.errors.append(
                    PolicyError(f"cannot be resolved offline: {exc}", file=self.source, record=f"NSG {name!r}", field="securityRules")
                )
                return nsg
        if not isinstance(rules, list):
            nsg.errors.append(
                PolicyError(f"expected a list of rules, got {type(rules).__name__}", file=self.source, record=f"NSG {name!r}", field="securityRules")
            )
            return nsg
        self._add_rules(nsg, rules, ctx)
        self._check_nsg(nsg)
        return nsg

    def _add_rules(self, nsg: NSG, items: list[Any], ctx: ArmContext) -> None:
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                nsg.errors.append(
                    PolicyError(f"expected a rule object, got {item!r}", file=self.source, record=f"NSG {nsg.name!r} rule #{i}")
                )
                continue
            low = _lower(item)
            props = low.get("properties") if isinstance(low.get("properties"), dict) else low
            name = low.get("name")
            try:
                name = ctx.resolve(name)
            except Unresolved as exc:
                nsg.errors.append(
                    PolicyError(f"cannot be resolved offline: {exc}", file=self.source, record=f"NSG {nsg.name!r} rule {name}", field="name")
                )
                continue
            resolved: dict[str, Any] = {}
            failed = False
            for key, value in props.items():
                try:
                    resolved[key] = ctx.resolve(value)
                except Unresolved as exc:
                    failed = True
                    nsg.errors.append(
                        PolicyError(
                            f"{jsonio.shown(value) if len(str(value)) > 60 else value} cannot be resolved offline: {exc}",
                            file=self.source,
                            record=f"NSG {nsg.name!r} rule {name!r}",
                            field=key,
                            value=value,
                        )
                    )
            if failed:
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


def select_nsg(nsgs: list[NSG], name: str | None, source: str | None) -> NSG:
    """The NSG called ``name`` (resolved name, raw expression text, or ``#N``, 1-based)."""
    if name is None:
        if len(nsgs) == 1:
            return nsgs[0]
        names = ", ".join(repr(n.name) for n in nsgs)
        raise PolicyError(f"the file holds {len(nsgs)} NSGs ({names}); choose one with FILE:NSGNAME", file=source)
    if name.startswith("#") and name[1:].isdigit():
        i = int(name[1:])
        if 1 <= i <= len(nsgs):
            return nsgs[i - 1]
    for n in nsgs:
        if n.name.lower() == name.lower() or (n.raw_name or "").lower() == name.lower():
            return n
    names = ", ".join(repr(n.name) for n in nsgs)
    raise PolicyError(f"no NSG named {name!r}; the file holds {names}", file=source)


def load_nsg(
    source: str | Path | Any, *, name: str | None = None, params: Mapping[str, Any] | None = None
) -> NSG:
    """One NSG, validated: raises the first PolicyError (``FILE:NAME`` selects in a multi-NSG file)."""
    src_name = None
    if isinstance(source, str) and name is None:
        source, name = split_ref(source)
    if isinstance(source, (str, Path)):
        src_name = str(source)
    nsg = select_nsg(read_nsgs(source, params=params), name, src_name)
    nsg.raise_first()
    return nsg
