"""Resource-argument parts: pure builders of the Args the components and steps register
(VM profile, disks, health probes, tags, what a frozen build ignores). No resource is
registered here; the layer sits between the config and the steps (docs/architecture.md)."""
