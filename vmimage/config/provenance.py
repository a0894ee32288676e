"""What a version is made from, said once: the resolved source of a build (a marketplace
image's exact version, the parent version, the image id, a VHD's digest) and the tags
that record it, with the commit and release that built it, on the captured image.

Pure: the commit and release are read at the program's boundary (vmimage/release.py) and
the marketplace's `latest` is resolved by Azure (vmimage/azure/reads.py); this module only
words them. `vmimage outdated` reads the same words back (vmimage/daytwo/).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vmimage.config.fingerprint import Capture, build_fingerprint
from vmimage.config.models import BuildSpec, PipelineSpec
from vmimage.vocabulary import COMMIT_TAG, RELEASE_TAG, SOURCE_TAG

#: Azure's longest tag value (learn.microsoft.com "Use tags to organize your Azure
#: resources": values up to 256 characters).
MAX_TAG_VALUE = 256


@dataclass(frozen=True)
class RunIdentity:
    """Who builds: the git commit (None when there is none to read) and vmimage's release."""

    commit: str | None
    release: str


def digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def source_of(build: BuildSpec, resolved: str | None = None) -> str:
    """`marketplace:P:O:S:VERSION` (VERSION as Azure resolved `latest`, when it was),
    `version:1.0.0`, `image:<ARM id>`, `vhd:sha256:<digest of the OS disk's URI>`."""
    source = build.from_
    if source.marketplace is not None:
        m = source.marketplace
        return f"marketplace:{m.publisher}:{m.offer}:{m.sku}:{resolved or m.version}"
    if source.version is not None:
        return f"version:{source.version}"
    if source.vhd is not None:
        return f"vhd:{digest(str(source.vhd.uri))}"
    image = str(source.image_id)
    text = f"image:{image}"
    return text if len(text) <= MAX_TAG_VALUE else f"image:{digest(image.lower())}"


@dataclass(frozen=True)
class MarketplaceSource:
    publisher: str
    offer: str
    sku: str
    version: str


def parse_marketplace_source(text: str | None) -> MarketplaceSource | None:
    """A recorded `marketplace:P:O:S:VERSION` source, or None for any other."""
    if not text or not text.startswith("marketplace:"):
        return None
    parts = text.split(":")
    if len(parts) != 5 or not all(parts[1:]):
        return None
    return MarketplaceSource(*parts[1:])


def provenance_tags(source: str, run: RunIdentity | None) -> dict[str, str]:
    """The tags recorded on a new image (the commit only when known)."""
    tags = {SOURCE_TAG: source[:MAX_TAG_VALUE]}
    if run is not None:
        if run.commit:
            tags[COMMIT_TAG] = run.commit
        tags[RELEASE_TAG] = run.release
    return tags


def recorded(tags: Mapping[str, str]) -> dict[str, str]:
    """The provenance tags an image was captured with (none for older images)."""
    return {key: tags[key] for key in (SOURCE_TAG, COMMIT_TAG, RELEASE_TAG) if key in tags}


def step_digest(scripts: Sequence[str]) -> str | None:
    """A customize step's digest: the sha256 of the script its run command ran; of a step
    that runs several (windowsUpdate's rounds), the sha256 of their digests, one a line, in
    order; None for a step that runs no script (restart)."""
    if not scripts:
        return None
    each = ["sha256:" + hashlib.sha256(text.encode()).hexdigest() for text in scripts]
    if len(each) == 1:
        return each[0]
    return "sha256:" + hashlib.sha256("\n".join(each).encode()).hexdigest()


def step_digests(count: int, scripts: Sequence[tuple[int, str]]) -> list[str | None]:
    """Each of `count` steps' digest, in order, from (step index, script) pairs."""
    return [step_digest([text for i, text in scripts if i == index]) for index in range(count)]


def version_provenance(spec: PipelineSpec, build: BuildSpec,
                       capture: Capture | None) -> dict[str, Any]:
    """One version's fingerprint, source, commit and release. A captured version says what
    its image was captured with (its tags); one not captured yet, what it is about to be
    built with (the tags with_provenance gave it, vmimage/stack/config.py)."""
    tags = dict(capture.provenance) if capture is not None else {}
    captured = capture is not None and capture.captured
    return {
        "configFingerprint": (capture.fingerprint if captured and capture is not None
                              else build_fingerprint(spec, build)),
        "source": tags.get(SOURCE_TAG, source_of(build)),
        "commit": tags.get(COMMIT_TAG),
        "release": tags.get(RELEASE_TAG),
    }


def provenance_output(spec: PipelineSpec, captures: Mapping[str, Capture],
                      digests: Mapping[str, Any]) -> dict[str, Any]:
    """The `provenance` stack output, by version: each version's provenance and its
    `stepDigests` (given: read from what its run commands hold, None for a build whose
    VM is gone or was never made)."""
    return {b.version: {**version_provenance(spec, b, captures.get(b.version)),
                        "stepDigests": digests.get(b.version)}
            for b in spec.builds}
