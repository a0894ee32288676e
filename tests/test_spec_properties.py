"""Property-based tests of the validator: generated valid specs are accepted; a mutated one
(required key dropped, wrong type, out of range, duplicate LUN, unknown key, bad version)
is refused with a SpecError naming the mutated key path, never another exception; and no
value anywhere makes the validator crash."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmimage.config.errors import SpecError
from vmimage.config.validate import load_spec

SETTINGS = settings(max_examples=60, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG8eVohnH+7mb9ln3Bay8lWX0FEKl5S3uOXo1ecTOghm t@e"
LOCATION = "westeurope"
REGIONS = ["westeurope", "northeurope", "eastus", "swedencentral"]

name_part = st.from_regex(r"[a-z][a-z0-9]{2,10}", fullmatch=True)


@st.composite
def data_disks(draw: st.DrawFn) -> list[dict[str, Any]]:
    luns = draw(st.lists(st.integers(0, 63), max_size=4, unique=True))
    return [
        {
            "lun": lun,
            "sizeGb": draw(st.integers(1, 1024)),  # a gallery takes 1 TB per data disk
            "caching": draw(st.sampled_from(["None", "ReadOnly", "ReadWrite"])),
            "sku": draw(st.sampled_from(["Standard_LRS", "StandardSSD_LRS", "Premium_LRS"])),
        }
        for lun in luns
    ]


@st.composite
def valid_pipelines(draw: st.DrawFn) -> dict[str, Any]:
    windows = draw(st.booleans())
    capture = draw(st.sampled_from(["gallery", "both", "managedImage"]))
    gallery = capture != "managedImage"
    third = draw(st.integers(0, 255))
    pipeline: dict[str, Any] = {
        "resourceGroup": "rg-" + draw(name_part),
        "network": {"addressSpace": f"10.{third}.0.0/16", "subnetPrefix": f"10.{third}.1.0/24"},
        "admin": {"username": draw(st.sampled_from(["azureuser", "vmadmin", "ops_user"]))},
        "capture": capture,
    }
    if not windows:
        pipeline["admin"]["sshPublicKey"] = SSH_KEY
    image = {"name": draw(name_part), "os": "windows" if windows else "linux",
             "generation": "V2", "publisher": "contoso", "offer": "app", "sku": "base"}
    if gallery:
        pipeline["gallery"] = {"name": "gal" + draw(name_part), "image": image}
    if capture != "gallery":
        pipeline["managedImage"] = {"name": draw(name_part)}
        if not gallery:  # no definition to say what the image is
            pipeline["managedImage"].update(os=image["os"], generation="V2")
    if capture == "managedImage" and windows:
        pipeline["security"] = {"trustedLaunch": False}
    builds = []
    for i in range(draw(st.integers(1, 3))):
        version = f"1.{i}.{draw(st.integers(0, 9))}"
        source: dict[str, Any] = {"marketplace": {"publisher": "p", "offer": "o", "sku": "s"}}
        if i and capture != "managedImage" and draw(st.booleans()):
            source = {"version": builds[i - 1]["version"]}
        build: dict[str, Any] = {"version": version, "from": source, "size": "Standard_D2s_v5",
                                 "dataDisks": draw(data_disks())}
        if draw(st.booleans()):
            build["customize"] = (
                [{"template": "windows/install-features.ps1.j2",
                  "vars": {"features": ["Web-Server"]}}] if windows else
                [{"template": "linux/install-packages.sh.j2", "vars": {"packages": ["nginx"]}}]
            )
        if capture != "managedImage":
            regions = draw(st.lists(st.sampled_from(REGIONS), max_size=3, unique=True))
            build["regions"] = [
                {"name": r, "replicas": draw(st.one_of(st.integers(1, 5), st.just("auto")))}
                for r in regions
            ]
        builds.append(build)
    pipeline["builds"] = builds
    names = draw(st.lists(st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True),
                          max_size=3, unique=True))
    pipeline["clones"] = [
        {"name": n, "count": draw(st.integers(0, 10)), "size": "Standard_B2s",
         "version": draw(st.sampled_from(["latest", *(b["version"] for b in builds)]))}
        for n in names
    ]
    return pipeline


def problems_of(pipeline: Any) -> list[str]:
    try:
        load_spec(pipeline, location=LOCATION)
    except SpecError as exc:
        assert exc.problems, "a SpecError must list its problems"
        assert len(exc.problems) == len(set(exc.problems))
        return exc.problems
    return []


def at(pipeline: dict[str, Any], path: list[str | int]) -> Any:
    node: Any = pipeline
    for part in path:
        node = node[part]
    return node


def key_path(path: list[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


@SETTINGS
@given(valid_pipelines())
def test_valid_specs_are_accepted(pipeline: dict[str, Any]) -> None:
    assert problems_of(pipeline) == []


REQUIRED = [["resourceGroup"], ["network"], ["admin"], ["builds"],
            ["network", "addressSpace"], ["network", "subnetPrefix"], ["admin", "username"],
            ["builds", 0, "version"], ["builds", 0, "size"], ["builds", 0, "from"]]
CLONE_REQUIRED = [["clones", 0, "name"], ["clones", 0, "count"], ["clones", 0, "size"]]
WRONG_TYPES = {
    ("resourceGroup",): [["rg"], 5, {"a": 1}],
    ("network",): ["10.0.0.0/16", 3, []],
    ("network", "publicIp"): ["yes", 2],
    ("network", "subnetPrefix"): [24, True, ["10.0.0.0/24"]],
    ("builds",): ["1.0.0", {"version": "1.0.0"}, 1],
    ("builds", 0, "version"): [1.0, 2, ["1.0.0"]],
    ("builds", 0, "dataDisks"): ["lun0", {"lun": 0}],
    ("protectImages",): ["no", "false", 0.5],
}
OUT_OF_RANGE = {
    ("builds", 0, "size"): ["B2s", "Standard D2"],
    ("capture",): ["vhd", "Gallery"],
}
BAD_VERSIONS = ["1.0", "v1.0.0", "01.0.0", "1.0.0.0", "", "4294967296.0.0", "1.-1.0", "latest"]


@SETTINGS
@given(valid_pipelines(), st.data())
def test_dropping_a_required_key_is_refused(pipeline: dict[str, Any], data: st.DataObject) -> None:
    choices = REQUIRED + (CLONE_REQUIRED if pipeline["clones"] else [])
    path = data.draw(st.sampled_from(choices))
    mutated = copy.deepcopy(pipeline)
    del at(mutated, path[:-1])[path[-1]]
    problems = problems_of(mutated)
    assert any(p.startswith(f"{key_path(path)}:") for p in problems), problems


@SETTINGS
@given(valid_pipelines(), st.data())
def test_wrong_types_are_refused(pipeline: dict[str, Any], data: st.DataObject) -> None:
    path, values = data.draw(st.sampled_from(sorted(WRONG_TYPES.items(), key=str)))
    value = data.draw(st.sampled_from(values))
    mutated = copy.deepcopy(pipeline)
    at(mutated, list(path[:-1]))[path[-1]] = value
    problems = problems_of(mutated)
    assert any(p.startswith(key_path(list(path))) for p in problems), (value, problems)


@st.composite
def out_of_range(draw: st.DrawFn, pipeline: dict[str, Any]) -> tuple[list[str | int], Any]:
    options: list[tuple[list[str | int], Any]] = []
    for i, build in enumerate(pipeline["builds"]):
        for j, _ in enumerate(build["dataDisks"]):
            options.append(([
                "builds", i, "dataDisks", j, "lun"], draw(st.one_of(st.integers(64, 10**6),
                                                                   st.integers(-100, -1)))))
            options.append((["builds", i, "dataDisks", j, "sizeGb"],
                            draw(st.one_of(st.integers(32768, 10**6), st.integers(-5, 0)))))
        for j, _ in enumerate(build.get("regions", [])):
            options.append((["builds", i, "regions", j, "replicas"],
                            draw(st.one_of(st.integers(101, 10**4), st.integers(-5, 0)))))
    for i, _ in enumerate(pipeline["clones"]):
        options.append((["clones", i, "count"],
                        draw(st.one_of(st.integers(1001, 10**5), st.integers(-50, -1)))))
    for path, values in OUT_OF_RANGE.items():
        options.append((list(path), draw(st.sampled_from(values))))
    return draw(st.sampled_from(options))


@SETTINGS
@given(valid_pipelines(), st.data())
def test_out_of_range_values_are_refused(pipeline: dict[str, Any], data: st.DataObject) -> None:
    path, value = data.draw(out_of_range(pipeline))
    mutated = copy.deepcopy(pipeline)
    at(mutated, path[:-1])[path[-1]] = value
    problems = problems_of(mutated)
    assert any(p.startswith(f"{key_path(path)}:") for p in problems), (value, problems)


@SETTINGS
@given(valid_pipelines(), st.data())
def test_duplicate_luns_are_refused(pipeline: dict[str, Any], data: st.DataObject) -> None:
    mutated = copy.deepcopy(pipeline)
    build_index = data.draw(st.integers(0, len(mutated["builds"]) - 1))
    disks = mutated["builds"][build_index]["dataDisks"]
    if not disks:
        disks.append({"lun": 7, "sizeGb": 8})
    duplicate = copy.deepcopy(data.draw(st.sampled_from(disks)))
    disks.append(duplicate)
    problems = problems_of(mutated)
    path = f"builds[{build_index}].dataDisks[{len(disks) - 1}].lun"
    assert f"{path}: LUN {duplicate['lun']} is used twice" in problems, problems


@SETTINGS
@given(valid_pipelines(), st.data(), st.from_regex(r"[a-z][A-Za-z]{2,12}", fullmatch=True))
def test_unknown_keys_are_refused(pipeline: dict[str, Any], data: st.DataObject,
                                  key: str) -> None:
    places: list[list[str | int]] = [[], ["network"], ["admin"], ["builds", 0],
                                     ["builds", 0, "from"]]
    places += [["clones", 0]] if pipeline["clones"] else []
    place = data.draw(st.sampled_from(places))
    target = at(pipeline, place)
    if key in target or key in {"location"}:
        return
    mutated = copy.deepcopy(pipeline)
    at(mutated, place)[key] = "x"
    problems = problems_of(mutated)
    assert any(p.startswith(f"{key_path([*place, key])}: unknown key") for p in problems), problems


@SETTINGS
@given(valid_pipelines(), st.sampled_from(BAD_VERSIONS), st.data())
def test_bad_version_strings_are_refused(pipeline: dict[str, Any], version: str,
                                        data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(pipeline["builds"]) - 1))
    mutated = copy.deepcopy(pipeline)
    mutated["builds"][index]["version"] = version
    problems = problems_of(mutated)
    assert any(p.startswith(f"builds[{index}].version:") for p in problems), problems


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8,
)


def nodes(value: Any, path: list[str | int] | None = None) -> list[list[str | int]]:
    path = path or []
    found = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            found += nodes(v, [*path, k])
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += nodes(v, [*path, i])
    return found


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(valid_pipelines(), st.data(), json_values)
def test_any_value_anywhere_never_crashes(pipeline: dict[str, Any], data: st.DataObject,
                                          value: Any) -> None:
    path = data.draw(st.sampled_from(nodes(pipeline)))
    mutated: Any = copy.deepcopy(pipeline)
    if path:
        at(mutated, path[:-1])[path[-1]] = value
    else:
        mutated = value
    problems_of(mutated)  # accepted, or SpecError: never anything else
