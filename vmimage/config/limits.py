"""The program's own bounds on a config: how much one stack may ask for. Each is far above
any real pipeline and low enough that the program, the engine and the state stay small
and quick; every one is checked before anything is registered, with the key it names
(vmimage/config/limit_rules.py). Azure's own limits are in vmimage/azure/limits.py; the
README's config reference ("Limits") lists both.
"""

from __future__ import annotations

#: Customize and validate steps of one build together. Real builds have tens; 1,000 still
#: register (each waits for the one before through a stand-in, vmimage/components/
#: ordering.py, so nothing recurses along the chain).
MAX_STEPS_PER_BUILD = 1000
#: windowsUpdate rounds of one build, over all its windowsUpdate steps (each round is a run
#: command and a restart; one step allows 10, a build needs one or two such steps).
MAX_UPDATE_ROUNDS_PER_BUILD = 100
#: Clone groups of one stack: each is a component with its own NICs and VMs; more is a
#: fleet for several stacks.
MAX_CLONE_GROUPS = 50
#: Individual VMs in one clone group; larger fleets belong in a scale set (kind: scaleSet).
MAX_VMS_PER_GROUP = 100
#: Clone instances of one stack, all groups (VMs and scale set instances) together.
MAX_INSTANCES_TOTAL = 5000
#: `vmimage:pipeline` as compact JSON, once YAML aliases are expanded: what Pulumi hands
#: the program and what the offline reader allows. Real configs are a few KiB; the bound
#: stops a small file of aliases from expanding into hundreds of megabytes of scripts.
MAX_CONFIG_BYTES = 4 * 1024 * 1024
#: One step's script as the guest receives it (rendered). Azure documents no size for an
#: inline run command script (docs/azure-behaviours.md); 256 KiB is ours: bigger belongs
#: in a blob.
MAX_SCRIPT_BYTES = 256 * 1024
#: The rendered scripts of one build's run commands together: each is kept in the state
#: twice (inputs and outputs) and sent to Azure in its run command.
MAX_SCRIPT_BYTES_PER_BUILD = 4 * 1024 * 1024
#: The state the stack would have, estimated: the engine reads and writes it whole at every
#: update (a Pulumi checkpoint, the offline state file).
MAX_STATE_BYTES = 64 * 1024 * 1024
#: Estimates behind it, measured on the offline state of stacks/Pulumi.dev.yaml: a VM is
#: 4.5 KB; a VM action (Generalize, Restart, ...) carries its serialized dynamic provider,
#: 88 KB.
STATE_BYTES_PER_RESOURCE = 5 * 1024
STATE_BYTES_PER_ACTION = 96 * 1024
#: Tags the program puts on a resource itself, at most (role, version, group or step,
#: fingerprint, and on images the provenance: source, commit, release, the reason of a
#: revoked one and the retention of an old one; a run command's five: role, version, step,
#: step kind, step index): what is left of Azure's 50 is the config's.
PROGRAM_TAGS = 8
