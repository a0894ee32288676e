"""naming.py: pure functions for Azure names."""

from __future__ import annotations

import itertools
import re

import pytest

from vmimage.azure import naming


@pytest.mark.parametrize(
    "vm_name",
    ["vm-build-web-ubuntu-1-0-0", "web-1-0-0-000", "a" * 64, "x.y_z-1", "123456789012345678"],
)
@pytest.mark.parametrize("windows", [True, False])
def test_computer_names_are_valid_for_the_os(vm_name, windows):
    name = naming.computer_name(vm_name, windows=windows)
    assert naming.computer_name_problems(name, windows=windows) == []
    limit = 15 if windows else 64
    assert 1 <= len(name) <= limit
    assert re.fullmatch(r"[A-Za-z0-9-]+", name)


def test_short_names_are_kept_as_they_are():
    assert naming.computer_name("web-1-0-0-000", windows=True) == "web-1-0-0-000"
    assert naming.computer_name("vm-build-web-ubuntu-1-0-0", windows=False) == (
        "vm-build-web-ubuntu-1-0-0"
    )


def test_long_windows_names_keep_a_prefix_and_a_hash_of_the_whole():
    vm = "vm-build-iis-ws2022-1-0-0"
    name = naming.computer_name(vm, windows=True)
    assert len(name) <= 15
    prefix, digest = name.rsplit("-", 1)
    assert len(prefix) >= 8  # readable, not just a hash
    assert vm.startswith(prefix)
    assert digest == naming.short_hash(vm, length=5)


def test_computer_names_of_distinct_vms_are_distinct():
    vms = [naming.clone_vm_name(group, version, i)
           for group, version, i in itertools.product(
               ["iis", "iis-frontend-web", "iis-frontend-weba"], ["1.0.0", "1.0.1", "10.0.0"],
               range(30))]
    assert len(set(vms)) == len(vms)
    for windows in (True, False):
        names = [naming.computer_name(vm, windows=windows) for vm in vms]
        assert len(set(names)) == len(names), "two VMs would share a host name"


def test_all_digit_windows_name_is_not_allowed_and_is_avoided():
    assert naming.computer_name_problems("12345", windows=True) == [
        "Windows computer name '12345' must not be only digits"
    ]
    assert not naming.computer_name("12345", windows=True).isdigit()
    assert naming.computer_name_problems("12345", windows=False) == []


def test_computer_name_problems():
    assert naming.computer_name_problems("a" * 16, windows=True) == [
        f"Windows computer name {'a' * 16!r} must be 1-15 characters"
    ]
    assert naming.computer_name_problems("a" * 16, windows=False) == []
    assert naming.computer_name_problems("a" * 65, windows=False) == [
        f"Linux computer name {'a' * 65!r} must be 1-64 characters"
    ]
    assert naming.computer_name_problems("web_1", windows=False) == [
        "computer name 'web_1' may hold only letters, digits and '-'"
    ]


def test_clone_names_carry_the_version_and_index():
    assert naming.clone_vm_name("web", "1.0.0", 2) == "web-1-0-0-002"
    assert naming.clone_vm_name("web", "1.1.0", 2) != naming.clone_vm_name("web", "1.0.0", 2)
    assert naming.clone_vm_name("web", "1.0.0", 1) != naming.clone_vm_name("web", "1.0.0", 2)


def test_build_vm_name_is_deterministic_and_bounded():
    assert naming.build_vm_name("web-ubuntu", "1.0.0") == "vm-build-web-ubuntu-1-0-0"
    long_image = "i" * 80
    a = naming.build_vm_name(long_image, "1.0.0")
    b = naming.build_vm_name(long_image, "1.0.1")
    assert len(a) <= naming.VM_NAME_MAX and len(b) <= naming.VM_NAME_MAX
    assert a != b
    assert naming.VIRTUAL_MACHINE.problems(a) == []
    assert a == naming.build_vm_name(long_image, "1.0.0")


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("1.0.0", (1, 0, 0)),
        ("0.0.0", (0, 0, 0)),
        ("2147483647.2147483647.2147483647", (2**31 - 1,) * 3),
        ("2147483648.0.0", None),  # above int32
        ("0.0.4294967296", None),
        ("1.0", None),
        ("1.0.0.0", None),
        ("01.0.0", None),
        ("1.0.-1", None),
        ("v1.0.0", None),
        ("1.0.0 ", None),
        ("", None),
    ],
)
def test_parse_version_bounds(text, parsed):
    assert naming.parse_version(text) == parsed


def test_parse_version_orders_numerically():
    versions = ["1.10.0", "1.9.0", "1.2.10", "1.2.9"]
    assert sorted(versions, key=naming.parse_version) == ["1.2.9", "1.2.10", "1.9.0", "1.10.0"]


def test_version_slug():
    assert naming.version_slug("10.2.33") == "10-2-33"


@pytest.mark.parametrize(
    ("rule", "good", "bad"),
    [
        (naming.GALLERY, ["galvmimagedev", "gal_v1.x", "g"], ["gal-dev", "_gal", "gal.", ""]),
        (naming.GALLERY_IMAGE, ["web-ubuntu", "w.1_x"], ["-web", "web-", "web ubuntu"]),
        (naming.RESOURCE_GROUP, ["rg-vmimage-dev", "rg(1).x_y"], ["rg.", "rg bad", "r" * 91]),
        (naming.VIRTUAL_MACHINE, ["web-1-0-0-000", "vm_"], ["vm-", "vm.", "v" * 65]),
        (naming.CLONE_GROUP, ["web", "w", "web-2"], ["Web", "web-", "2web", "w" * 21]),
    ],
)
def test_name_rules(rule, good, bad):
    for name in good:
        assert rule.problems(name) == [], name
    for name in bad:
        problems = rule.problems(name)
        assert len(problems) == 1, name
        assert repr(name) in problems[0] and rule.what in problems[0]


def test_name_rule_reports_length_before_pattern():
    assert naming.GALLERY.problems("") == ["gallery name '' must be 1-80 characters (has 0)"]
    assert naming.GALLERY.problems("a-b") == [
        "gallery name 'a-b' is not valid: letters, digits, '_' and '.' (no '-'); "
        "start and end with a letter or digit"
    ]


def test_short_hash_is_stable_and_sensitive():
    assert naming.short_hash("a", "b") == naming.short_hash("a", "b")
    assert naming.short_hash("a", "b") != naming.short_hash("a", "c")
    assert len(naming.short_hash("x", length=8)) == 8


def test_child_name():
    assert naming.child_name("vmimage", "rg") == "vmimage-rg"


def test_each_pipeline_names_its_own_network() -> None:
    """Two pipelines in one resource group must not share a VNet, subnet or NSG."""
    a, b = naming.network_names("web-ubuntu"), naming.network_names("iis-ws2022")
    assert (a.vnet, a.subnet, a.nsg) == ("vnet-web-ubuntu", "snet-web-ubuntu", "nsg-web-ubuntu")
    assert {a.vnet, a.subnet, a.nsg}.isdisjoint({b.vnet, b.subnet, b.nsg})


def test_network_names_of_long_images_stay_valid_and_distinct() -> None:
    long_a, long_b = "a" * 79 + "x", "a" * 79 + "y"
    names_a, names_b = naming.network_names(long_a), naming.network_names(long_b)
    assert naming.VIRTUAL_NETWORK.problems(names_a.vnet) == []
    assert len(names_a.vnet) <= 64 and names_a.vnet != names_b.vnet
