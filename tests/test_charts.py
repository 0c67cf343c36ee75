"""Where charts come from: CDSTACK_CHARTS, then the cache, each archive checked against charts.lock."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from tools import charts, diff


def archive(folder: Path, name: str, version: str, body: str = "") -> Path:
    path = folder / f"{name}-{version}.tgz"
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        data = f"apiVersion: v2\nname: {name}\nversion: {version}\n{body}".encode()
        info = tarfile.TarInfo(f"{name}/Chart.yaml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    mirror, cache = tmp_path / "mirror", tmp_path / "cache"
    monkeypatch.setenv("CDSTACK_CHARTS", str(mirror))
    monkeypatch.setenv("CDSTACK_CHART_CACHE", str(cache))
    return mirror, cache


def test_a_missing_chart_names_itself_and_both_places(places: tuple[Path, Path]):
    mirror, cache = places
    with pytest.raises(charts.ChartMissingError) as caught:
        charts.locate("vault", "0.34.1", lock={})
    message = str(caught.value)
    assert "vault" in message and "0.34.1" in message
    assert str(mirror) in message and str(cache) in message and "make charts" in message


def test_the_mirror_comes_before_the_cache_and_unpacked_folders_count(places: tuple[Path, Path]):
    mirror, cache = places
    archive(cache, "vault", "0.34.1")
    assert charts.locate("vault", "0.34.1", lock={}) == cache / "vault-0.34.1.tgz"
    (mirror / "vault").mkdir(parents=True)
    (mirror / "vault" / "Chart.yaml").write_text("apiVersion: v2\nname: vault\nversion: 0.34.1\n")
    assert charts.locate("vault", "0.34.1", lock={}) == mirror / "vault"
    # An unpacked folder at another version is not the pinned chart.
    with pytest.raises(charts.ChartMissingError):
        charts.locate("vault", "0.35.0", lock={})


def test_an_archive_whose_digest_differs_from_the_lock_is_refused(places: tuple[Path, Path]):
    _, cache = places
    reviewed = archive(cache, "vault", "0.34.1")
    lock = {("vault", "0.34.1"): {"digest": charts.digest(reviewed)}}
    assert charts.locate("vault", "0.34.1", lock=lock) == reviewed
    archive(cache, "vault", "0.34.1", body="description: changed upstream\n")
    with pytest.raises(charts.ChartTamperedError, match="not the one reviewed"):
        charts.locate("vault", "0.34.1", lock=lock)


def test_the_lock_round_trips_and_lists_every_pin(tmp_path: Path):
    entries = [{"name": "vault", "version": "0.34.1", "repository": "https://example.com", "digest": "sha256:ab"}]
    charts.write_lock(entries, tmp_path / "charts.lock")
    assert charts.read_lock(tmp_path / "charts.lock") == {("vault", "0.34.1"): entries[0]}
    from components import catalog

    assert {(p.chart, p.version) for p in charts.pins()} >= {(c.chart, c.version) for c in catalog.CHARTS.values()}


def test_diff_masks_secret_values_and_reports_changed_releases():
    secret = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"token": "c2VjcmV0"}}
    assert diff.mask(secret)["data"] == {"token": diff.MASK}
    assert secret["data"]["token"] == "c2VjcmV0"  # the rendered object itself is left alone
    lines = diff.unified({"a": "x: 1\n", "b": "y: 1\n"}, {"a": "x: 2\n", "b": "y: 1\n"}, "staging", "prod")
    assert "--- staging/a\n" in lines and "-x: 1\n" in lines and "+x: 2\n" in lines
    assert not any("/b" in line for line in lines)


def test_make_charts_records_new_pins_and_refuses_changed_ones(
    places: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    lock_file = tmp_path / "charts.lock"
    monkeypatch.setattr(charts, "LOCK_FILE", lock_file)
    monkeypatch.setattr(charts, "pins", lambda: [charts.Pin("vault", "vault", "0.34.1", "https://example.com")])
    monkeypatch.setattr(charts, "pull", lambda pin, destination: archive(destination, pin.chart, pin.version))
    assert charts.main(["pull"]) == 0  # first sight: recorded for review
    assert set(charts.read_lock(lock_file)) == {("vault", "0.34.1")}
    assert charts.main(["pull"]) == 0  # the same bytes again
    changed = lambda pin, destination: archive(destination, pin.chart, pin.version, "x: 1\n")  # noqa: E731
    monkeypatch.setattr(charts, "pull", changed)
    assert charts.main(["pull"]) == 1  # changed upstream under the same version


def test_without_a_lock_make_charts_says_it_trusts_on_first_use_and_offline_writes_nothing(
    places: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """No chart repository reachable and no charts.lock: one clear failure, and no lock with invented digests."""
    lock_file = tmp_path / "charts.lock"
    monkeypatch.setattr(charts, "LOCK_FILE", lock_file)
    monkeypatch.setattr(charts, "pins", lambda: [charts.Pin("vault", "vault", "0.34.1", "https://example.com")])

    def offline(pin: charts.Pin, destination: Path) -> Path:
        raise OSError("network unreachable")

    monkeypatch.setattr(charts, "pull", offline)
    assert charts.main(["pull"]) == 1
    err = capsys.readouterr().err
    assert "charts.lock does not exist yet" in err and "trust on first use" in err
    assert "vault 0.34.1 from https://example.com: network unreachable" in err
    assert "charts.lock not written" in err and not lock_file.exists()
    assert charts.main(["lock"]) == 1 and not lock_file.exists()


def test_an_archive_the_lock_does_not_know_is_used_with_a_warning(
    places: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
):
    mirror, _ = places
    unlocked = archive(mirror, "vault", "0.34.1")
    assert charts.locate("vault", "0.34.1", lock={}) == unlocked
    assert "is not in charts.lock: its digest is unchecked" in capsys.readouterr().err
    locked = {("vault", "0.34.1"): {"digest": charts.digest(unlocked)}}
    charts.UNLOCKED_WARNED.clear()
    assert charts.locate("vault", "0.34.1", lock=locked) == unlocked
    assert capsys.readouterr().err == ""
