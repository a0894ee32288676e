"""The committed JSON Schemas and config reference match the spec models, accept the example
stacks and reject bad configs."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
import yaml
from conftest import ROOT, STACKS, load_pipeline

from vmimage.config import schema
from vmimage.config.models import PipelineSpec


def as_json(value: Any) -> Any:
    """YAML reads dates as date objects; editors and JSON see strings."""
    return json.loads(json.dumps(value, default=str))


@pytest.fixture(scope="module")
def stack_validator() -> jsonschema.Draft202012Validator:
    committed = json.loads((ROOT / schema.STACK_SCHEMA).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(committed)
    return jsonschema.Draft202012Validator(committed)


@pytest.fixture(scope="module")
def pipeline_validator() -> jsonschema.Draft202012Validator:
    committed = json.loads((ROOT / schema.PIPELINE_SCHEMA).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(committed)
    return jsonschema.Draft202012Validator(committed)


@pytest.mark.parametrize("path", sorted(schema.generated_files(), key=str))
def test_committed_file_is_fresh(path):
    fresh = schema.generated_files()[path]
    committed = (ROOT / path).read_text(encoding="utf-8") if (ROOT / path).is_file() else ""
    assert committed == fresh, f"{path} is stale: run `make schema`"


def test_check_mode_agrees():
    assert schema.stale_files() == []


def test_schema_header_and_location_optional():
    generated = schema.pipeline_schema()
    assert generated["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert generated["$id"] and generated["title"] == "vmimage:pipeline"
    assert "location" not in generated["required"]
    assert set(generated["required"]) == {"resourceGroup", "network", "admin", "builds"}


def test_every_spec_field_has_a_description():
    missing = []

    def walk(model: type) -> None:
        for name, field in model.model_fields.items():
            if not field.description:
                missing.append(f"{model.__name__}.{name}")
            inner = schema_model(field.annotation)
            if inner is not None:
                walk(inner)

    walk(PipelineSpec)
    assert missing == []


def schema_model(annotation: Any) -> Any:
    from vmimage.config.errors import model_in as _model_in

    return _model_in(annotation)


def test_reference_lists_every_key_path():
    reference = (ROOT / schema.REFERENCE).read_text(encoding="utf-8")
    for path in ("resourceGroup", "builds[].dataDisks[].lun", "builds[].regions[].replicas",
                 "clones[].rollout.batchSize", "network.allowInbound[].port",
                 "gallery.image.generation", "security.trustedLaunch"):
        assert f"| `{path}` |" in reference
    assert '`"auto"`' in reference


@pytest.mark.parametrize("stack", ["dev", "win"])
def test_example_stacks_validate(stack, stack_validator, pipeline_validator):
    text = (STACKS / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=../schema/stack-file.schema.json\n")
    document = as_json(yaml.safe_load(text))
    stack_validator.validate(document)
    pipeline_validator.validate(document["config"]["vmimage:pipeline"])


def test_consumer_is_not_a_vmimage_stack(stack_validator):
    consumer = yaml.safe_load((ROOT / "examples/consumer/Pulumi.dev.yaml").read_text())
    assert not stack_validator.is_valid(consumer)  # no vmimage:pipeline


def good() -> dict[str, Any]:
    return as_json(load_pipeline("dev"))


def mutate(path: list[Any], value: Any) -> dict[str, Any]:
    pipeline = good()
    node = pipeline
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return pipeline


_DELETE = object()

GOOD_VARIANTS = {
    "replicas auto": (["builds", 0, "regions", 0, "replicas"], "auto"),
    "port as a number": (["network", "allowInbound"],
                         [{"name": "https", "port": 443, "source": "VirtualNetwork"}]),
    "port range": (["network", "allowInbound"],
                   [{"name": "app", "port": "8000-8080", "source": "10.0.0.0/8"}]),
    "explicit location": (["location"], "northeurope"),
    "parent version": (["builds", 0, "from"], {"version": "0.9.0"}),
}

BAD_VARIANTS = {
    "unknown key": (["builds", 0, "dataDisks", 0, "sizeGB"], 64),
    "lun out of range": (["builds", 0, "dataDisks", 0, "lun"], 64),
    "replicas zero": (["builds", 0, "regions", 0, "replicas"], 0),
    "replicas word": (["builds", 0, "regions", 0, "replicas"], "many"),
    "caching typo": (["builds", 0, "dataDisks", 0, "caching"], "readwrite"),
    "no builds": (["builds"], []),
    "missing admin": (["admin"], _DELETE),
    "bad cidr": (["network", "addressSpace"], "10.42.0.0"),
    "bad size": (["clones", 0, "size"], "B2s"),
    "both sources": (["builds", 0, "from", "version"], "0.9.0"),
    "count negative": (["clones", 0, "count"], -1),
    "kind typo": (["clones", 0, "kind"], "vmss"),
}


@pytest.mark.parametrize("case", sorted(GOOD_VARIANTS))
def test_good_variants_pass(case, pipeline_validator):
    pipeline_validator.validate(mutate(*GOOD_VARIANTS[case]))


@pytest.mark.parametrize("case", sorted(BAD_VARIANTS))
def test_bad_configs_are_rejected(case, pipeline_validator, stack_validator):
    bad = mutate(*BAD_VARIANTS[case])
    assert not pipeline_validator.is_valid(bad)
    stack = {"config": {"azure-native:location": "westeurope", "vmimage:pipeline": bad}}
    assert not stack_validator.is_valid(stack)


def test_plain_admin_password_in_stack_file_is_rejected(stack_validator):
    document = as_json(yaml.safe_load((STACKS / "Pulumi.win.yaml").read_text()))
    plain = copy.deepcopy(document)
    plain["config"]["vmimage:adminPassword"] = "hunter2"
    assert not stack_validator.is_valid(plain)
    secret = copy.deepcopy(document)
    secret["config"]["vmimage:adminPassword"] = {"secure": "v1:abc"}
    stack_validator.validate(secret)
