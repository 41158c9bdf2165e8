import json

import pytest

from matte.errors import ModelError
from matte.models import load_catalog, parse_manifest


def test_committed_manifest_is_valid():
    cat = load_catalog()
    assert cat.default in cat.ids()
    assert {"isnet-medium", "u2netp"} <= set(cat.ids())
    for m in cat.models:
        assert len(m.sha256) == 64 and m.bytes > 0 and m.license


def test_aliases_and_case():
    cat = load_catalog()
    assert cat.get("FAST").id == "u2netp"
    assert cat.get("isnet").id == "isnet-medium"
    assert cat.get(None).id == cat.default


def test_unknown_model_names_choices():
    with pytest.raises(ModelError, match="unknown model 'nope'.*u2netp"):
        load_catalog().get("nope")


def _entry(**over):
    base = json.loads(json.dumps(load_catalog().get("u2netp").__dict__, default=list))
    e = {
        "id": "m", "label": "M", "file": "m.onnx", "bytes": 1, "sha256": "0" * 64,
        "license": "MIT",
        "input": {"name": "x", "size": [8, 8], "scale": "unit", "mean": [0, 0, 0],
                  "std": [1, 1, 1]},
        "output": {"name": None, "range": "unit"},
    }
    assert base  # the committed spec serialises
    e.update(over)
    return e


@pytest.mark.parametrize(
    "over, msg",
    [
        ({"input": {"name": "x", "size": [8], "scale": "unit", "mean": [0, 0, 0],
                    "std": [1, 1, 1]}}, "input.size"),
        ({"input": {"name": "x", "size": [8, 8], "scale": "weird", "mean": [0, 0, 0],
                    "std": [1, 1, 1]}}, "input.scale"),
        ({"input": {"name": "x", "size": [8, 8], "scale": "unit", "mean": [0, 0, 0],
                    "std": [1, 0, 1]}}, "non-zero"),
        ({"output": {"name": None, "range": "percent"}}, "output.range"),
        ({"sha256": "abc"}, "sha256"),
        ({"bytes": "big"}, "'bytes'"),
    ],
)
def test_bad_entries_name_the_field(over, msg):
    with pytest.raises(ModelError, match=msg):
        parse_manifest({"models": [_entry(**over)]})


def test_missing_field_and_duplicates():
    e = _entry()
    del e["license"]
    with pytest.raises(ModelError, match="lacks field 'license'"):
        parse_manifest({"models": [e]})
    with pytest.raises(ModelError, match="duplicate"):
        parse_manifest({"models": [_entry(), _entry()]})
    with pytest.raises(ModelError, match="unknown model"):
        parse_manifest({"models": [_entry()], "default": "zzz"})


@pytest.mark.parametrize(
    ("preview", "msg"),
    [("nope", "must be the id of another model"), ("m", "must be the id of another model"),
     (7, "preview must be a model id")],
)
def test_preview_must_name_another_model(preview, msg):
    data = {"models": [_entry(id="m", preview=preview), _entry(id="fast")]}
    with pytest.raises(ModelError, match=msg):
        parse_manifest(data)


def test_preview_of_a_preview_is_refused():
    data = {"models": [_entry(id="a", preview="b"), _entry(id="b", preview="c"), _entry(id="c")]}
    with pytest.raises(ModelError, match="has a preview itself"):
        parse_manifest(data)
    ok = parse_manifest({"models": [_entry(id="a", preview="b"), _entry(id="b")]})
    assert ok.get("a").preview == "b" and ok.get("b").preview is None


# --------------------------------------------------------------------------------------------
# fusions (kind "fusion": two models combined by matte.fuse)


def _fusion(**over):
    e = {"id": "both", "label": "Both", "kind": "fusion",
         "members": {"edges": "a", "regions": "b"}, "preview": "b"}
    e.update(over)
    return e


def test_committed_default_is_the_fusion():
    cat = load_catalog()
    best = cat.get(None)
    assert best.kind == "fusion" and best.id == "best" == cat.default
    assert best.members == ("isnet-medium", "u2netp") and best.preview == "u2netp"
    assert best.bytes == cat.get("isnet-medium").bytes + cat.get("u2netp").bytes
    assert cat.get("FUSED") is best and "best" in cat.ids()
    assert all(m.kind != "fusion" for m in cat.models)  # model files only
    with pytest.raises(ModelError, match="fusion"):
        cat.model("best")
    assert cat.model("fast").id == "u2netp"


def test_fusion_parses():
    cat = parse_manifest({"models": [_fusion(), _entry(id="a"), _entry(id="b")],
                          "default": "both"})
    f = cat.get(None)
    assert f.edges is cat.get("a") and f.regions is cat.get("b")
    assert cat.ids() == ["both", "a", "b"]


@pytest.mark.parametrize(
    "over, msg",
    [
        ({"members": {"edges": "a"}}, "members"),
        ({"members": ["a", "b"]}, "members"),
        ({"members": {"edges": "a", "regions": "zzz"}}, "regions member 'zzz'"),
        ({"members": {"edges": "a", "regions": "a"}, "preview": "a"}, "two different"),
        ({"preview": "a"}, "preview must be its regions model"),
        ({"label": 3}, "'label'"),
    ],
)
def test_bad_fusions_name_the_field(over, msg):
    with pytest.raises(ModelError, match=msg):
        parse_manifest({"models": [_fusion(**over), _entry(id="a"), _entry(id="b")]})


def test_a_manifest_of_fusions_only_is_refused():
    with pytest.raises(ModelError, match="no model file"):
        parse_manifest({"models": [_fusion()]})


def test_model_specs_lists_what_a_run_loads():
    from matte.models import load_catalog, model_specs

    cat = load_catalog()
    best, u2 = cat.get("best"), cat.get("u2netp")
    assert [m.id for m in model_specs(best)] == [best.regions.id, best.edges.id]
    assert model_specs(u2) == (u2,)
