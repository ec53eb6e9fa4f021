"""The LiteLLM peer of `make bench` (bench/peer_litellm.py), without LiteLLM: its fake OpenAI
Videos upstream, the proxy config and environment it writes, and the row when it is absent."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
from pathlib import Path

import pytest

from bench import peer_litellm


def _post(port: int, path: str, body: bytes, content_type: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def _multipart(fields: dict[str, str], boundary: str = "b0undary") -> tuple[bytes, str]:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    return ("".join(parts) + f"--{boundary}--\r\n").encode(), (
        f"multipart/form-data; boundary={boundary}"
    )


def test_the_fake_upstream_answers_a_multipart_create_with_a_video_object() -> None:
    body, content_type = _multipart({"model": "sora-2", "prompt": "a cat", "seconds": "8"})
    with peer_litellm.FakeUpstream() as upstream:
        assert upstream.api_base == f"http://127.0.0.1:{upstream.port}/v1"
        status, video = _post(upstream.port, "/v1/videos", body, content_type)
        json_status, from_json = _post(
            upstream.port, "/v1/videos", b'{"model": "sora-2", "prompt": "x"}', "application/json"
        )
        missing, _ = _post(upstream.port, "/v1/nothing", b"{}", "application/json")
        creates = upstream.creates
    assert status == 200
    assert video["object"] == "video"
    assert video["id"].startswith("video_")
    assert video["status"] == "queued"
    assert video["progress"] == 0
    assert video["model"] == "sora-2"
    assert video["seconds"] == "8"
    assert isinstance(video["created_at"], int)
    assert json_status == 200
    assert from_json["object"] == "video"
    assert missing == 404
    assert creates == 2


def test_form_fields_skips_file_parts() -> None:
    body = (
        b'--x\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhi\r\n'
        b'--x\r\nContent-Disposition: form-data; name="input_reference"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n\x89PNG\r\n--x--\r\n"
    )
    assert peer_litellm.form_fields("multipart/form-data; boundary=x", body) == {"prompt": "hi"}


def test_the_config_routes_the_model_to_the_loopback_upstream(tmp_path: Path) -> None:
    path = peer_litellm.write_config(tmp_path, "http://127.0.0.1:12345/v1", "sk-bench-test")
    config = json.loads(path.read_text())  # JSON is YAML: the proxy reads it as its config
    (model,) = config["model_list"]
    assert model["model_name"] == peer_litellm.MODEL
    assert model["litellm_params"]["model"] == f"openai/{peer_litellm.MODEL}"
    assert model["litellm_params"]["api_base"].startswith("http://127.0.0.1:")
    assert config["general_settings"]["master_key"] == "sk-bench-test"


def test_the_proxy_gets_none_of_our_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://example/db")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/1")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    env = peer_litellm.proxy_env(tmp_path / "bin" / "litellm", tmp_path)
    assert not {"DATABASE_URL", "REDIS_URL", "HTTPS_PROXY", "SECRET_KEY"} & env.keys()
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    assert env["LITELLM_TELEMETRY_DISABLED"] == "true"
    assert env["LITELLM_MODE"] == "PRODUCTION"  # no .env search
    assert env["HOME"] == str(tmp_path)


def test_without_litellm_the_row_says_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(peer_litellm, "PEERS_VENV", tmp_path / "absent")
    monkeypatch.setenv("LITELLM_BIN", str(tmp_path / "no-litellm"))
    assert peer_litellm.litellm_bin() is None
    (row,) = peer_litellm.peer_rows(1.5, 400, 3)
    assert row["name"] == peer_litellm.NAME
    assert row["note"] == "skipped: LiteLLM not installed (make bench-peers)"
    assert "baseline" not in row


def test_litellm_bin_prefers_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = tmp_path / "litellm"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setattr(peer_litellm, "PEERS_VENV", tmp_path / "absent")
    monkeypatch.setenv("LITELLM_BIN", str(binary))
    assert peer_litellm.litellm_bin() == binary


def test_tree_ticks_reads_this_process() -> None:
    assert peer_litellm.tree_ticks(os.getpid()) >= 0


def test_a_proxy_that_does_not_start_is_reported_on_the_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = tmp_path / "litellm"
    binary.write_text("#!/bin/sh\necho 'boom: cannot start' >&2\nexit 3\n")
    binary.chmod(0o755)
    monkeypatch.setenv("LITELLM_BIN", str(binary))
    (row,) = peer_litellm.peer_rows(1.5, 400, 3)
    assert "failed: LiteLLM exited (3): boom: cannot start" in str(row["note"])
    assert "baseline" not in row


def test_make_bench_peers_installs_the_pinned_peers_into_their_own_venv() -> None:
    root = Path(peer_litellm.ROOT)
    dry = subprocess.run(
        ["make", "-n", "-B", "bench-peers"], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    installs = [line for line in dry.splitlines() if "pip install" in line]
    assert installs
    assert all(line.startswith(".venv-peers/bin/python ") for line in installs), installs
    assert any(line.endswith("-r bench/peers.txt") for line in installs), installs
    pins = [
        line
        for line in (root / "bench" / "peers.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert pins and all("==" in line for line in pins), pins
    assert "litellm" not in (root / "pyproject.toml").read_text().lower()  # never ours


def test_figures_measured_beside_ours_make_the_row(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(peer_litellm, "litellm_bin", lambda: None)
    (row,) = peer_litellm.peer_rows(2.0, 400, 3, [9.0, 8.0, 10.0])
    assert (row["baseline"], row["ratio"]) == (9.0, 2.0 / 9.0)
    assert "rounds alternating" in str(row["note"])
    (failed,) = peer_litellm.peer_rows(2.0, 400, 3, "LiteLLM failed: boom")
    assert failed["note"] == "LiteLLM failed: boom" and "baseline" not in failed
