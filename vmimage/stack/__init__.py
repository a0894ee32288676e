"""Reading a stack: its Pulumi config into the validated spec, and Azure's answers about
it (what is captured, an existing subnet, Spot evictions). Above the config and the
capture targets (it asks each target how Azure is read), below the components."""
