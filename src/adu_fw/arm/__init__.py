"""ARM templates evaluated offline, as Azure Resource Manager would deploy them.

Real templates are what Bicep and Azure Verified Modules emit: comments, nested inline deployments
with their own scopes, ``languageVersion 2.0`` symbolic resources, copy loops on resources,
properties and variables, user-defined functions, and deployment-context functions. This package
evaluates all of that without a deployment:

- ``jsonc``: JSON with ``//`` and ``/* */`` comments (ARM accepts them);
- ``expr``: the expression language parsed into a tree;
- ``functions``: the built-in functions that need only their arguments;
- ``scope``: a template's parameters, variables and functions, lazily evaluated;
- ``deployment``: :class:`Deployment`, the stand-ins and user-given values for what only a
  deployment knows (resource group, location, subscription, ``reference()``);
- ``template``: :func:`expand`, the walk over resources, loops, conditions and nested deployments.

What cannot be known offline is an :class:`Unknown` value carrying the reason, raised as
:class:`Unresolved` only where the value is needed, so callers can name the rule and field.
"""
from __future__ import annotations

from typing import Any, Mapping

from .deployment import Deployment, arm_guid, parse_reference, unique_string
from .jsonc import loads, strip_comments
from .scope import Context, Scope
from .template import Expansion, Problem, Resource, expand, load_parameters_file, parameters_from_document
from .values import Unknown, Unresolved, force, is_expression

__all__ = [
    "ArmContext",
    "Deployment",
    "Expansion",
    "Problem",
    "Resource",
    "Unknown",
    "Unresolved",
    "arm_guid",
    "expand",
    "force",
    "is_expression",
    "load_parameters_file",
    "loads",
    "parameters_from_document",
    "parse_reference",
    "strip_comments",
    "unique_string",
]


class ArmContext:
    """Expressions of one flat template (parameters, variables, user values): the pre-package API.

    ``resolve`` raises :class:`Unresolved` when any part of the value cannot be known offline.
    """

    def __init__(
        self,
        parameters: Mapping[str, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
        values: Mapping[str, Any] | None = None,
        *,
        deployment: Deployment | Mapping[str, Any] | None = None,
    ) -> None:
        template = {"parameters": dict(parameters or {}), "variables": dict(variables or {})}
        self.scope = Scope(template, Context(Deployment.of(deployment)), given=dict(values or {}), user_given=True)

    def resolve(self, value: Any) -> Any:
        return force(self.scope.resolve(value))

    def evaluate(self, text: str) -> Any:
        return force(self.scope.evaluate(text))
