"""build.py's embed allowlist: origin validation, site/embed.json and the headers it drives."""

from __future__ import annotations

import json
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import build  # noqa: E402

PAGE = ('<meta http-equiv="Content-Security-Policy" content="default-src \'self\'; '
        'frame-src \'none\'">')


@pytest.mark.parametrize(("given", "origin"), [
    ("https://www.example.com", "https://www.example.com"),
    ("HTTPS://Www.Example.COM/", "https://www.example.com"),  # as browsers serialize it
    ("https://a.example:443", "https://a.example"),  # default port dropped
    ("http://a.example:80/", "http://a.example"),
    ("https://a.example:8443", "https://a.example:8443"),
    ("http://127.0.0.1:8001", "http://127.0.0.1:8001"),
    ("http://localhost:3000", "http://localhost:3000"),
    ("http://[::1]:8080", "http://[::1]:8080"),
    ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example"),
    ("  https://a.example  ", "https://a.example"),
])
def test_origins_are_normalized(given, origin):
    assert build.normalize_origin(given) == origin


@pytest.mark.parametrize(("given", "why"), [
    ("", "empty"),
    ("*", "wildcards"),
    ("https://*.example.com", "wildcards"),
    ("https://a.example/app/", "no path"),
    ("https://a.example/index.html", "no path"),
    ("https://a.example?x=1", "not an origin"),
    ("https://a.example#top", "not an origin"),
    ("https://user@a.example", "not an origin"),
    ("null", "not an origin"),
    ("a.example", "scheme"),
    ("//a.example", "scheme"),
    ("ftp://a.example", "scheme"),
    ("file:///tmp", "scheme"),
    ("javascript:alert(1)", "scheme"),
    ("https://bücher.example", "punycode"),
    ("https://a.example:99999", "bad port"),
    ("https://a_b.example", "bad host"),
    ("https://-a.example", "bad host"),
    ("https://", "bad host"),
    ("https://[::1", "bad"),
])
def test_bad_origins_are_refused_with_a_reason(given, why):
    with pytest.raises(build.BuildError, match=why):
        build.normalize_origin(given)


def test_config_is_deduplicated_in_order():
    conf = build.embed_config(["https://b.example", "https://a.example/", "HTTPS://B.EXAMPLE"])
    assert conf == {"version": 1, "allowed_origins": ["https://b.example", "https://a.example"]}
    assert build.embed_config([]) == {"version": 1, "allowed_origins": []}


def test_write_and_read_back(tmp_path):
    build.write_embed_config(tmp_path, ["https://a.example:443"])
    assert json.loads((tmp_path / "embed.json").read_text()) == {
        "version": 1, "allowed_origins": ["https://a.example"]}
    assert build.read_embed_origins(tmp_path) == ["https://a.example"]
    assert build.read_embed_origins(tmp_path / "missing") == []  # no file: nobody else
    (tmp_path / "embed.json").write_text('{"allowed_origins": ["*"]}')
    with pytest.raises(build.BuildError, match="wildcards"):  # a hand-edited file is checked
        build.read_embed_origins(tmp_path)
    (tmp_path / "embed.json").write_text("{not json")
    with pytest.raises(build.BuildError, match="not valid JSON"):
        build.read_embed_origins(tmp_path)


def test_origins_from_the_environment(monkeypatch):
    monkeypatch.setenv(build.EMBED_ENV, "https://a.example, https://b.example  http://c.test:81")
    assert build.embed_origins_from_env() == ["https://a.example", "https://b.example",
                                              "http://c.test:81"]
    monkeypatch.delenv(build.EMBED_ENV)
    assert build.embed_origins_from_env() == []


def test_cli_refuses_a_bad_origin_before_touching_site(monkeypatch, capsys):
    monkeypatch.setattr(build, "fetch", lambda **kw: pytest.fail("must not fetch or build"))
    assert build.main(["build", "--embed-origin", "https://*.example.com"]) == 2
    assert "wildcards are not supported" in capsys.readouterr().err
    monkeypatch.setenv(build.EMBED_ENV, "https://a.example/path")
    assert build.main(["build"]) == 2
    assert "has no path" in capsys.readouterr().err


def test_cli_flags_override_the_environment(monkeypatch):
    seen = []
    monkeypatch.setattr(build, "build", lambda **kw: seen.append(kw["embed_origins"]))
    monkeypatch.setenv(build.EMBED_ENV, "https://env.example")
    build.main(["build", "--embed-origin", "https://a.example", "--embed-origin",
                "https://b.example"])
    build.main(["build"])
    assert seen == [["https://a.example", "https://b.example"], None]  # None: read the env


def test_header_csp_adds_frame_ancestors(tmp_path):
    (tmp_path / "index.html").write_text(PAGE)
    meta = build.content_security_policy(tmp_path)
    assert build.header_csp(tmp_path) == f"{meta}; frame-ancestors 'self'"  # no embed.json
    build.write_embed_config(tmp_path, ["https://a.example", "http://127.0.0.1:9000"])
    assert build.header_csp(tmp_path) == (
        f"{meta}; frame-ancestors 'self' https://a.example http://127.0.0.1:9000")
    assert build.header_csp(tmp_path, ancestors=False) == meta


def _headers(root: Path, path: str, **kw) -> dict:
    server = build.Server(("127.0.0.1", 0), build.make_handler(root, **kw))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}{path}"
        with urllib.request.urlopen(url) as r:
            return dict(r.headers)
    finally:
        server.shutdown()
        server.server_close()


def test_served_headers_follow_the_allowlist(tmp_path):
    (tmp_path / "index.html").write_text(PAGE)
    (tmp_path / "app.js").write_text("")
    # nobody else allowed: same-origin resources only, framing by the app's own origin only
    h = _headers(tmp_path, "/", isolate=True)
    assert h["Cross-Origin-Resource-Policy"] == "same-origin"
    assert h["Content-Security-Policy"].endswith("; frame-ancestors 'self'")
    # allowed parents: the page (not its resources) may be loaded by an isolated parent
    build.write_embed_config(tmp_path, ["https://a.example"])
    assert _headers(tmp_path, "/?model=u2netp", isolate=True)[
        "Cross-Origin-Resource-Policy"] == "cross-origin"
    assert _headers(tmp_path, "/index.html", isolate=True)[
        "Cross-Origin-Resource-Policy"] == "cross-origin"
    assert _headers(tmp_path, "/app.js", isolate=True)[
        "Cross-Origin-Resource-Policy"] == "same-origin"
    h = _headers(tmp_path, "/", isolate=False)
    assert "Cross-Origin-Resource-Policy" not in h
    assert h["Content-Security-Policy"].endswith("; frame-ancestors 'self' https://a.example")
    h = _headers(tmp_path, "/", isolate=False, frame_ancestors=False)
    assert "frame-ancestors" not in h["Content-Security-Policy"]
