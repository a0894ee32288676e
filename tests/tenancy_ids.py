"""ARM ids of what a tenancy stack refers to (another subscription's subnet, identity and
disk encryption sets), shared by the tenancy tests."""

from __future__ import annotations

SUB = "00000000-0000-0000-0000-0000000000bb"
SUBNET = (f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/"
          "virtualNetworks/vnet-hub/subnets/snet-build")
IDENTITY = (f"/subscriptions/{SUB}/resourceGroups/rg-id/providers/"
            "Microsoft.ManagedIdentity/userAssignedIdentities/id-build")
DES = (f"/subscriptions/{SUB}/resourceGroups/rg-keys/providers/"
       "Microsoft.Compute/diskEncryptionSets/des-westeurope")
DES_NORTH = DES.replace("westeurope", "northeurope")
