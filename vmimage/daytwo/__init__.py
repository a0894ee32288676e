"""Day two: the loop after the first build. `vmimage outdated` (is a base newer?),
`vmimage bump` (append the next build), from config, Azure's reads and the provenance tags
each captured version carries (vmimage/config/provenance.py)."""
