"""Attachments: sniffed type, size cap, safe names, content-addressed storage, file fields a
transition requires, listed on the case and the step, readable only by who sees the case."""

from __future__ import annotations

import io

import pytest
from http_fixtures import png_bytes

from gridflow.errors import FileRefused
from gridflow.service.files import check_name, sniff


def test_upload_is_sniffed_and_stored_by_content(api, tmp_path) -> None:
    case = api.start("chen.grid", workflow="inspect", unit="g1", title="井盖缺失")
    r = api.upload("chen.grid", png_bytes(), "井盖.jpg", case_id=case["id"])  # a PNG named .jpg
    assert r.status_code == 201, r.text
    info = r.json()
    assert info["content_type"] == "image/png" and info["case_id"] == case["id"]
    assert info["name"] == "井盖.jpg" and info["id"].startswith("f_")
    again = api.upload("chen.grid", png_bytes(), "copy.png", case_id=case["id"]).json()
    assert again["sha256"] == info["sha256"] and again["id"] != info["id"]
    root = tmp_path / "files"
    stored = [p for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] != "tmp"]
    assert [p.name for p in stored] == [info["sha256"]]  # one copy, named by its hash
    content = api.client.get(info["url"], headers=api.auth("chen.grid"))
    assert content.status_code == 200 and content.content == png_bytes()
    assert content.headers["content-type"] == "image/png"
    assert content.headers["x-content-type-options"] == "nosniff"
    assert "filename*=UTF-8''%E4%BA%95%E7%9B%96.jpg" in content.headers["content-disposition"]


def test_over_the_limit_is_413_and_nothing_is_kept(make_api, tmp_path) -> None:
    api = make_api(max_upload_mb=0.01)  # 10 KiB
    r = api.upload("chen.grid", png_bytes(extra=20_000))
    assert r.status_code == 413, r.text
    assert api.upload("chen.grid", png_bytes(extra=9_000)).status_code == 201
    leftovers = [p for p in (tmp_path / "files" / "tmp").iterdir()]
    assert leftovers == []


def test_a_huge_body_is_refused_before_it_is_read(make_api) -> None:
    api = make_api(max_upload_mb=0.01)
    big = b"\x89PNG\r\n\x1a\n" + b"0" * 500_000
    r = api.upload("chen.grid", big)
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "content",
    [b"<html><script>alert(1)</script></html>", b"MZ\x90\x00 executable", b"%!PS-Adobe-3.0"],
)
def test_refused_types_are_415_whatever_the_client_says(api, content) -> None:
    r = api.upload("chen.grid", content, "photo.png")
    assert r.status_code == 415, r.text
    assert r.json()["type"].endswith(":file-refused-type")


def raw_upload(api, name: bytes):
    """A multipart body written by hand: the name goes out byte for byte (a client library
    would escape control characters)."""
    boundary = b"gridflowboundary"
    body = (
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="' + name + b'"\r\n'
        b"Content-Type: image/png\r\n\r\n" + png_bytes() + b"\r\n--" + boundary + b"--\r\n"
    )
    headers = api.auth(
        "chen.grid", **{"Content-Type": "multipart/form-data; boundary=gridflowboundary"}
    )
    return api.client.post("/api/v1/files", headers=headers, content=body)


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "..", "a/b.png", "..\\win.ini", "/abs.png", "", "x" * 201]
)
def test_unsafe_names_are_refused(api, name) -> None:
    r = api.upload("chen.grid", png_bytes(), name)
    assert r.status_code == 422, (name, r.text)


@pytest.mark.parametrize("name", [b"x\x00.png", b"a\x01b.png", b"../x.png", b"..\\x"])
def test_unsafe_raw_names_are_refused(api, name) -> None:
    r = raw_upload(api, name)
    assert r.status_code == 422, (name, r.text)
    assert r.json()["type"].endswith(":file-refused-name")


def test_check_name_and_sniff() -> None:
    assert check_name("整改后 (1).jpeg") == "整改后 (1).jpeg"
    for bad in ("../x", "/etc/passwd", "C:\\x", ".."):
        with pytest.raises(FileRefused):
            check_name(bad)
    assert sniff(b"\xff\xd8\xff\xe0") == "image/jpeg"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff(b"\x00\x00\x00\x18ftypheic") == "image/heic"
    assert sniff(b"%PDF-1.7") == "application/pdf"
    assert sniff(b"GIF89a") == "image/gif"
    assert sniff(b"hello") is None


def test_a_transition_can_require_photos(api) -> None:
    before = api.upload("chen.grid", png_bytes(3, 3), "before.png").json()
    r = api.client.post(
        "/api/v1/cases",
        headers=api.auth("chen.grid"),
        json={
            "workflow": "inspect",
            "unit": "g1",
            "data": {"title": "占道", "photo_before": before["id"]},
        },
    )
    assert r.status_code == 201, r.text
    case = r.json()
    assert [f["id"] for f in case["files"]] == [before["id"]]  # tied to the case it started
    fix = {"trigger": "fix", "data": {}}
    r = api.client.post(
        f"/api/v1/cases/{case['id']}/events", headers=api.auth("chen.grid"), json=fix
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "photos_after"
    fix["data"] = {"photos_after": ["f_nonexistent0"]}
    r = api.client.post(
        f"/api/v1/cases/{case['id']}/events", headers=api.auth("chen.grid"), json=fix
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "photos_after"
    after = [
        api.upload("chen.grid", png_bytes(i + 4, 2), f"after{i}.png", case["id"]).json()
        for i in range(2)
    ]
    fix["data"] = {"photos_after": [f["id"] for f in after]}
    r = api.client.post(
        f"/api/v1/cases/{case['id']}/events", headers=api.auth("chen.grid"), json=fix
    )
    assert r.status_code == 200, r.text
    listed = api.client.get(
        f"/api/v1/cases/{case['id']}/files", headers=api.auth("chen.grid")
    ).json()
    assert {f["id"] for f in listed} == {before["id"], *(f["id"] for f in after)}
    steps = api.client.get(
        f"/api/v1/cases/{case['id']}/history", headers=api.auth("chen.grid")
    ).json()
    assert steps[0]["files"] == [before["id"]]
    assert steps[1]["files"] == [f["id"] for f in after]


def test_files_are_readable_only_by_who_sees_the_case(api) -> None:
    case = api.start("chen.grid", workflow="inspect", unit="g1", title="路灯")
    f = api.upload("chen.grid", png_bytes(), "p.png", case["id"]).json()
    assert api.client.get(f["url"], headers=api.auth("zhao.area")).status_code == 200  # wannan ⊃ g1
    for outsider in ("qian.north", "fix"):
        assert api.client.get(f["url"], headers=api.auth(outsider)).status_code == 404
        assert (
            api.client.get(f"/api/v1/files/{f['id']}", headers=api.auth(outsider)).status_code
            == 404
        )
        assert api.upload(outsider, png_bytes(), "x.png", case["id"]).status_code == 404
    # an upload not yet tied to a case is its uploader's alone, also to refer to
    loose = api.upload("chen.grid", png_bytes(5, 5), "loose.png").json()
    assert api.client.get(loose["url"], headers=api.auth("zhao.area")).status_code == 404
    body = {
        "workflow": "inspect",
        "unit": "g1",
        "data": {"title": "借用", "photo_before": loose["id"]},
    }
    stolen = api.client.post("/api/v1/cases", headers=api.auth("zhou.secretary"), json=body)
    assert stolen.status_code == 422  # zhou.secretary did not upload it
    assert stolen.json()["errors"][0]["field"] == "photo_before"


def test_multipart_with_no_file_is_422(api) -> None:
    r = api.client.post(
        "/api/v1/files", headers=api.auth("chen.grid"), files={"other": ("a", io.BytesIO(b"x"))}
    )
    assert r.status_code == 422
