"""Azure Hybrid Benefit: the licence types a VM or scale set VM profile may name
(`licenseType`), and the OS each is for. Source: azure-rest-api-specs, compute
`VirtualMachineProperties.licenseType` (as the installed azure-native's
`VirtualMachine(license_type=...)` docstring quotes it): Windows_Client and Windows_Server
for Windows, RHEL_BYOS for RHEL, SLES_BYOS for SUSE (docs/azure-behaviours.md)."""

from __future__ import annotations

LICENSE_OS: dict[str, str] = {"Windows_Server": "windows", "Windows_Client": "windows",
                              "RHEL_BYOS": "linux", "SLES_BYOS": "linux"}
