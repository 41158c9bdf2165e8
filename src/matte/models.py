"""Model specifications: one validated config per segmentation model.

The committed manifest ``models/models.json`` describes every model matte can run: where its
bytes come from, their size and sha256, its license, and its input/output contract. This module
turns one manifest entry into a frozen :class:`ModelSpec` and resolves ids and aliases. It knows
nothing about how inference runs (see :mod:`matte.runner` and the browser bridge).

An entry with ``"kind": "fusion"`` is no model file but a pipeline of two models whose outputs
:mod:`matte.fuse` combines (``"members": {"edges": ..., "regions": ...}``): a
:class:`FusionSpec`. :meth:`Catalog.get` resolves both kinds; :attr:`Catalog.models` lists the
model files only, :attr:`Catalog.fusions` the fusions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matte.errors import ModelError

#: How input pixels are scaled before mean/std: "none" keeps 0..255, "unit" divides by 255,
#: "max" divides by the image's maximum (U2-Net's reference preprocessing).
SCALES = ("none", "unit", "max")
#: How the raw output maps to alpha: "unit" is already 0..1 (clipped), "minmax" is stretched.
RANGES = ("unit", "minmax")


@dataclass(frozen=True)
class ModelSpec:
    """Validated description of one model.

    Attributes
    ----------
    id : str
        Canonical id, e.g. ``"isnet-medium"``.
    input_name : str
        Name of the image input of the ONNX graph.
    input_size : tuple of int
        ``(height, width)`` the image is resized to.
    scale : {"none", "unit", "max"}
        Pixel scaling before normalisation.
    mean, std : tuple of 3 float
        Per-channel normalisation, ``(x - mean) / std`` after scaling.
    output_name : str or None
        Output to read; None means the graph's first output.
    output_range : {"unit", "minmax"}
        How to map the raw output to [0, 1].
    preview : str or None
        Id of a faster model whose mask is shown first while this one runs (the progressive
        result); None: no preview.
    """

    id: str
    label: str
    file: str
    bytes: int
    sha256: str
    license: str
    input_name: str
    input_size: tuple[int, int]
    scale: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    output_name: str | None
    output_range: str
    kind: str = "salient-object"
    summary: str = ""
    license_note: str = ""
    aliases: tuple[str, ...] = ()
    precision: str = "fp32"
    source: Mapping[str, Any] = field(default_factory=dict)
    preview: str | None = None

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> ModelSpec:
        """Build a spec from one manifest entry, checking every field.

        Raises
        ------
        ModelError
            If a field is missing or has the wrong type or value; the message names the model
            and the field.
        """
        mid = entry.get("id", "?")

        def need(key: str, typ: type | tuple[type, ...], where: Mapping[str, Any] = entry) -> Any:
            if key not in where:
                raise ModelError(f"models manifest: model {mid!r} lacks field {key!r}")
            value = where[key]
            if not isinstance(value, typ):
                raise ModelError(
                    f"models manifest: model {mid!r} field {key!r} should be {typ}, got {value!r}"
                )
            return value

        inp = need("input", dict)
        out = need("output", dict)
        size = need("size", list, inp)
        if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
            raise ModelError(f"models manifest: model {mid!r} input.size must be [H, W] > 0")
        scale = need("scale", str, inp)
        if scale not in SCALES:
            raise ModelError(f"models manifest: model {mid!r} input.scale must be one of {SCALES}")
        mean = need("mean", list, inp)
        std = need("std", list, inp)
        if len(mean) != 3 or len(std) != 3 or any(s == 0 for s in std):
            raise ModelError(f"models manifest: model {mid!r} needs 3 means and 3 non-zero stds")
        rng = need("range", str, out)
        if rng not in RANGES:
            raise ModelError(f"models manifest: model {mid!r} output.range must be one of {RANGES}")
        out_name = out.get("name")
        if out_name is not None and not isinstance(out_name, str):
            raise ModelError(f"models manifest: model {mid!r} output.name must be a string or null")
        preview = entry.get("preview")
        if preview is not None and not isinstance(preview, str):
            raise ModelError(f"models manifest: model {mid!r} preview must be a model id or null")
        sha = need("sha256", str)
        if len(sha) != 64:
            raise ModelError(f"models manifest: model {mid!r} sha256 must be 64 hex digits")
        return cls(
            id=need("id", str),
            label=need("label", str),
            file=need("file", str),
            bytes=need("bytes", int),
            sha256=sha.lower(),
            license=need("license", str),
            input_name=need("name", str, inp),
            input_size=(int(size[0]), int(size[1])),
            scale=scale,
            mean=(float(mean[0]), float(mean[1]), float(mean[2])),
            std=(float(std[0]), float(std[1]), float(std[2])),
            output_name=out_name,
            output_range=rng,
            kind=entry.get("kind", "salient-object"),
            summary=entry.get("summary", ""),
            license_note=entry.get("license_note", ""),
            aliases=tuple(entry.get("aliases", ())),
            precision=entry.get("precision", "fp32"),
            source=dict(entry.get("source", {})),
            preview=preview,
        )


#: Roles of a fusion's two members (see :mod:`matte.fuse`).
FUSION_ROLES = ("edges", "regions")


@dataclass(frozen=True)
class FusionSpec:
    """A pipeline of two models whose outputs :func:`matte.fuse.fuse_units` combines.

    Attributes
    ----------
    id, label, summary : str
        As for :class:`ModelSpec`.
    edges : ModelSpec
        The model whose output is kept where it is decided and at edges (ISNet).
    regions : ModelSpec
        The model that decides wide regions the edges model leaves undecided (u2netp).
    preview : str or None
        Id of the regions model (its output, shown first as the preview, is reused by the
        fusion, so the page runs no extra model) or None.
    aliases : tuple of str
    """

    id: str
    label: str
    edges: ModelSpec
    regions: ModelSpec
    summary: str = ""
    aliases: tuple[str, ...] = ()
    preview: str | None = None
    kind: str = "fusion"

    @property
    def members(self) -> tuple[str, str]:
        """Ids of ``(edges, regions)``."""
        return (self.edges.id, self.regions.id)

    @property
    def bytes(self) -> int:
        """Download size of both members."""
        return self.edges.bytes + self.regions.bytes

    @property
    def license(self) -> str:
        return f"{self.edges.license} + {self.regions.license}"

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any], models: Mapping[str, ModelSpec]) -> FusionSpec:
        """Build a fusion from one manifest entry (``"kind": "fusion"``), checking its fields.

        Parameters
        ----------
        entry : mapping
            The manifest entry.
        models : mapping of str to ModelSpec
            The manifest's model files by id (the members must be two of them).

        Raises
        ------
        ModelError
            If a field is missing or wrong; the message names the entry and the field.
        """
        mid = entry.get("id", "?")
        for key in ("id", "label"):
            if not isinstance(entry.get(key), str):
                raise ModelError(f"models manifest: fusion {mid!r} field {key!r} must be a string")
        members = entry.get("members")
        if not isinstance(members, Mapping) or set(members) != set(FUSION_ROLES):
            raise ModelError(f"models manifest: fusion {mid!r} field 'members' must map "
                             f"{' and '.join(FUSION_ROLES)} to model ids")
        for role in FUSION_ROLES:
            if members[role] not in models:
                raise ModelError(f"models manifest: fusion {mid!r} {role} member "
                                 f"{members[role]!r} must be the id of a model file")
        if members["edges"] == members["regions"]:
            raise ModelError(f"models manifest: fusion {mid!r} needs two different members")
        preview = entry.get("preview")
        if preview is not None and preview != members["regions"]:
            raise ModelError(f"models manifest: fusion {mid!r} preview must be its regions "
                             f"model {members['regions']!r} (its output is reused) or null")
        return cls(id=entry["id"], label=entry["label"], edges=models[members["edges"]],
                   regions=models[members["regions"]], summary=entry.get("summary", ""),
                   aliases=tuple(entry.get("aliases", ())), preview=preview)


def model_specs(spec: ModelSpec | FusionSpec) -> tuple[ModelSpec, ...]:
    """The models a run of ``spec`` needs: a fusion's ``(regions, edges)`` (the order the
    pipeline runs them), or the one model."""
    return (spec.regions, spec.edges) if isinstance(spec, FusionSpec) else (spec,)


@dataclass(frozen=True)
class Catalog:
    """All models of a manifest, with the default and alias resolution.

    ``models`` are the model files, ``fusions`` the two-model pipelines (:class:`FusionSpec`).
    """

    models: tuple[ModelSpec, ...]
    default: str
    fusions: tuple[FusionSpec, ...] = ()

    def ids(self) -> list[str]:
        """Ids of the fusions, then of the models."""
        return [f.id for f in self.fusions] + [m.id for m in self.models]

    def get(self, name: str | None = None) -> ModelSpec | FusionSpec:
        """The model or fusion called ``name`` (id or alias, case-insensitive); the default
        for None.

        Raises
        ------
        ModelError
            If nothing has that id or alias; the message lists the known ids.
        """
        key = (name or self.default).strip().lower()
        for m in (*self.fusions, *self.models):
            if key == m.id or key in (a.lower() for a in m.aliases):
                return m
        raise ModelError(f"unknown model {name!r}; choose one of: {', '.join(self.ids())}")

    def model(self, name: str | None = None) -> ModelSpec:
        """:meth:`get` for a single model file (a fusion's members, a preview).

        Raises
        ------
        ModelError
            If ``name`` is unknown or names a fusion.
        """
        spec = self.get(name)
        if not isinstance(spec, ModelSpec):
            raise ModelError(f"{spec.id!r} is a fusion of {' and '.join(spec.members)}, "
                             "not a single model")
        return spec


def parse_manifest(data: Mapping[str, Any]) -> Catalog:
    """Validate a decoded ``models.json`` and return its :class:`Catalog`."""
    entries = data.get("models")
    if not isinstance(entries, Sequence) or not entries:
        raise ModelError("models manifest: 'models' must be a non-empty list")
    if not all(isinstance(e, Mapping) for e in entries):
        raise ModelError("models manifest: every entry of 'models' must be an object")
    models = tuple(ModelSpec.from_dict(e) for e in entries if e.get("kind") != "fusion")
    if not models:
        raise ModelError("models manifest: 'models' has no model file, only fusions")
    by_id = {m.id: m for m in models}
    fusions = tuple(FusionSpec.from_dict(e, by_id) for e in entries if e.get("kind") == "fusion")
    ids = [m.id for m in (*fusions, *models)]
    if len(set(ids)) != len(ids):
        raise ModelError(f"models manifest: duplicate model ids in {ids}")
    default = data.get("default", models[0].id)
    catalog = Catalog(models=models, default=default, fusions=fusions)
    catalog.get(default)  # the default must exist
    files = set(by_id)
    for m in models:
        if m.preview is not None:
            if m.preview not in files or m.preview == m.id:
                raise ModelError(f"models manifest: model {m.id!r} preview {m.preview!r} must be "
                                 "the id of another model")
            if catalog.get(m.preview).preview is not None:
                raise ModelError(f"models manifest: model {m.id!r} preview {m.preview!r} has a "
                                 "preview itself")
    return catalog


def default_manifest_path() -> Path:
    """``models/models.json`` of the source tree, or beside the installed package."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[2] / "models" / "models.json", here.parent / "models.json"):
        if candidate.is_file():
            return candidate
    raise ModelError("cannot find models/models.json; pass the manifest path explicitly")


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Read and validate a models manifest (default: the committed ``models/models.json``)."""
    p = Path(path) if path is not None else default_manifest_path()
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read models manifest {p}: {exc}") from exc
    return parse_manifest(data)
