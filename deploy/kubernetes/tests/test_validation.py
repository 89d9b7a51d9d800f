"""The overlays render, and every object in them is valid: core objects strictly against
Kubernetes' own schemas, the operators' objects against their pinned CRDs."""

from __future__ import annotations

import copy
import json
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .manifests import (
    CRDS,
    HERE,
    KUBERNETES_VERSION,
    OVERLAYS,
    crds,
    ident,
    is_custom,
    render,
    validate_core,
    validate_custom,
)

OVERLAY_NAMES = sorted(OVERLAYS)


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_overlay_renders(overlay: str) -> None:
    objs = render(overlay)
    assert objs, f"{overlay} rendered nothing"
    keys = [(o["apiVersion"], ident(o), o["metadata"].get("namespace")) for o in objs]
    assert len(keys) == len(set(keys)), "an object is rendered twice"
    namespaced = [o for o in objs if o["kind"] != "Namespace"]
    assert {o["metadata"].get("namespace") for o in namespaced} == {"shop"}


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_core_objects_are_valid_strictly(overlay: str) -> None:
    errors = []
    for obj in render(overlay):
        if is_custom(obj):
            continue
        try:
            validate_core(obj)
        except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as error:
            errors.append(f"{ident(obj)}: {getattr(error, 'message', error)}")
    assert not errors, f"invalid at Kubernetes {KUBERNETES_VERSION}:\n" + "\n".join(errors)


@pytest.mark.parametrize("overlay", OVERLAY_NAMES)
def test_custom_objects_match_the_operators_crds(overlay: str) -> None:
    custom = [o for o in render(overlay) if is_custom(o)]
    kinds = {o["kind"] for o in custom}
    assert {
        "RabbitmqCluster",
        "Vhost",
        "Exchange",
        "Queue",
        "Binding",
        "Policy",
        "User",
        "Permission",
    } <= kinds
    assert {"ScaledObject", "TriggerAuthentication"} <= kinds
    errors = [e for obj in custom for e in validate_custom(obj)]
    assert not errors, "\n".join(errors)


def test_every_kept_crd_is_used_and_recorded_in_the_readme() -> None:
    readme = (CRDS / "README.md").read_text()
    used = {(o["apiVersion"].rpartition("/")[0], o["kind"]) for o in render("dev") if is_custom(o)}
    assert set(crds()) == used
    for path in CRDS.rglob("*.yaml"):
        assert path.name in readme, f"{path.name} is not in crds/README.md"


# The validators bite: each broken object must be rejected.


def _first(kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(o for o in render("dev") if o["kind"] == kind))


def test_strict_core_validation_rejects_an_unknown_field() -> None:
    deployment = _first("Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_core(deployment)


def test_core_validation_rejects_a_wrong_type() -> None:
    pdb = _first("PodDisruptionBudget")
    pdb["spec"]["selector"] = "app=order-service"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_core(pdb)


@pytest.mark.parametrize(
    ("kind", "breaks"),
    [
        ("RabbitmqCluster", lambda o: o["spec"].__setitem__("replica", 3)),
        ("RabbitmqCluster", lambda o: o["spec"].__setitem__("replicas", "three")),
        ("Queue", lambda o: o["spec"].pop("rabbitmqClusterReference")),
        ("User", lambda o: o["spec"].__setitem__("tags", ["root"])),
        ("Permission", lambda o: o["spec"]["permissions"].__setitem__("publish", ".*")),
        ("ScaledObject", lambda o: o["spec"].pop("scaleTargetRef")),
        ("ScaledObject", lambda o: o["spec"]["triggers"][0].__setitem__("metdata", {})),
        ("TriggerAuthentication", lambda o: o["spec"]["secretTargetRef"][0].pop("key")),
    ],
)
def test_crd_validation_rejects_a_broken_object(kind: str, breaks: Any) -> None:
    obj = _first(kind)
    assert validate_custom(obj) == []
    breaks(obj)
    assert validate_custom(obj), f"a broken {kind} passed: {json.dumps(obj['spec'])[:300]}"


def test_an_unknown_custom_kind_is_an_error_not_a_pass() -> None:
    obj = {"apiVersion": "rabbitmq.com/v1beta1", "kind": "Shovel", "metadata": {"name": "x"}, "spec": {}}
    with pytest.raises(LookupError):
        validate_custom(obj)


def test_the_crds_come_from_the_recorded_releases() -> None:
    readme = (CRDS / "README.md").read_text()
    for crd in crds().values():
        assert crd["spec"]["names"]["kind"] in readme
    assert (HERE / "crds").is_dir()
    assert yaml.safe_load((CRDS / "keda" / "keda.sh_scaledobjects.yaml").read_text())["kind"] == (
        "CustomResourceDefinition"
    )
