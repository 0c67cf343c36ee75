"""Where the pinned charts come from on this machine, and proof they are the ones reviewed.

    python -m tools.charts pull     (make charts)       fetch every pinned chart into the cache, check charts.lock
                                                        (a pin not yet in the lock is added, for review)
    python -m tools.charts lock     (make charts-lock)  fetch every pinned chart and (re)write charts.lock

The charts are the catalog's pins plus every version a stack file overrides under `cdstack:charts`. Archives land in
the cache (`$CDSTACK_CHART_CACHE`, default `~/.cache/cdstack/charts`), never in the repository. `charts.lock` records
name, version, repository and the archive's sha256 digest: a chart whose bytes change upstream under the same version
is refused; a pin the lock does not know yet is added to it by `make charts`, to be reviewed and committed.
`CDSTACK_CHARTS=<folder>` (an air-gapped mirror: `<name>-<version>.tgz` archives or unpacked chart folders) is looked
in first; archives found there are checked against the lock too. Pulling uses helm-python-sdk (Helm's own Go SDK, no
helm binary), HTTP repositories and `oci://` registries alike.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from components import catalog
from tools import offline

LOCK_FILE = offline.PROJECT_DIR / "charts.lock"
GET_THEM = "run `make charts` (network to the chart repositories) or set CDSTACK_CHARTS to a folder of the charts"


class ChartMissingError(Exception):
    """A pinned chart is in neither place charts are looked for."""


class ChartTamperedError(Exception):
    """A chart archive whose digest differs from charts.lock."""


@dataclass(frozen=True)
class Pin:
    key: str
    chart: str
    version: str
    repository: str

    @property
    def archive_name(self) -> str:
        return f"{self.chart}-{self.version}.tgz"


def cache_dir() -> Path:
    return Path(os.environ.get("CDSTACK_CHART_CACHE") or Path.home() / ".cache" / "cdstack" / "charts")


def mirror_dir() -> Path | None:
    folder = os.environ.get("CDSTACK_CHARTS")
    return Path(folder) if folder else None


def pins(project_dir: Path = offline.PROJECT_DIR) -> list[Pin]:
    """The catalog's pins and every override any stack file carries: what some `pulumi up` may install."""
    found: dict[tuple[str, str], Pin] = {}
    versions = {key: {chart.version} for key, chart in catalog.CHARTS.items()}
    for stack_file in sorted(project_dir.glob("Pulumi.*.yaml")):
        overrides = ((yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}).get("cdstack:charts") or {}
        for key, version in overrides.items():
            if key in versions:
                versions[key].add(str(version))
    for key, chart in catalog.CHARTS.items():
        for version in sorted(versions[key]):
            found[(key, version)] = Pin(key, chart.chart, version, chart.repository)
    return list(found.values())


def read_lock(path: Path = LOCK_FILE) -> dict[tuple[str, str], dict[str, str]]:
    if not path.exists():
        return {}
    entries = (yaml.safe_load(path.read_text()) or {}).get("charts") or []
    return {(e["name"], str(e["version"])): e for e in entries}


def write_lock(entries: list[dict[str, str]], path: Path = LOCK_FILE) -> None:
    header = "# Written by `make charts-lock`: the chart archives cdstack installs, by digest. Review changes.\n"
    ordered = sorted(entries, key=lambda e: (e["name"], e["version"]))
    path.write_text(header + yaml.safe_dump({"charts": ordered}, sort_keys=False))


def digest(archive: Path) -> str:
    """`sha256:<hex>` of the archive bytes, the form Helm repository indexes carry."""
    return "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest()


UNLOCKED_WARNED: set[Path] = set()


def verify(archive: Path, chart: str, version: str, lock: dict[tuple[str, str], dict[str, str]]) -> None:
    """Refuse an archive whose digest differs from the lock's; say so (once) of one the lock does not know, whose
    bytes nothing vouches for yet."""
    entry = lock.get((chart, version))
    if entry is None:
        if archive not in UNLOCKED_WARNED:
            UNLOCKED_WARNED.add(archive)
            print(
                f"warning: {archive} ({chart} {version}) is not in {LOCK_FILE.name}: its digest is unchecked "
                "(`make charts` with network records it for review)",
                file=sys.stderr,
            )
        return
    if entry.get("digest") != digest(archive):
        raise ChartTamperedError(
            f"{archive}: digest {digest(archive)} differs from charts.lock's {entry.get('digest')} for "
            f"{chart} {version}: the archive is not the one reviewed (re-pull it, or `make charts-lock` on purpose)"
        )


def _unpacked(folder: Path, chart: str, version: str) -> Path | None:
    """An unpacked chart folder `<chart>-<version>/` or `<chart>/` whose Chart.yaml is that chart at that version."""
    for candidate in (folder / f"{chart}-{version}", folder / chart):
        meta = candidate / "Chart.yaml"
        if meta.exists():
            data = yaml.safe_load(meta.read_text()) or {}
            if data.get("name") == chart and str(data.get("version")) == version:
                return candidate
    return None


def locate(chart: str, version: str, lock: dict[tuple[str, str], dict[str, str]] | None = None) -> Path:
    """The chart archive or folder to render: CDSTACK_CHARTS first, then the cache. Archives are checked against the
    lock; an unpacked folder (a mirror's or a checkout's) has no archive digest to check and is taken as given."""
    lock = read_lock() if lock is None else lock
    looked: list[str] = []
    mirror = mirror_dir()
    if mirror is not None:
        archive = mirror / f"{chart}-{version}.tgz"
        if archive.exists():
            verify(archive, chart, version, lock)
            return archive
        folder = _unpacked(mirror, chart, version)
        if folder is not None:
            return folder
        looked.append(f"CDSTACK_CHARTS={mirror} (no {archive.name}, no unpacked {chart} {version})")
    else:
        looked.append("CDSTACK_CHARTS (not set)")
    cached = cache_dir() / f"{chart}-{version}.tgz"
    if cached.exists():
        verify(cached, chart, version, lock)
        return cached
    looked.append(f"the cache {cache_dir()} (no {cached.name})")
    raise ChartMissingError(f"chart {chart} version {version} not found in {' nor in '.join(looked)}: {GET_THEM}")


def pull(pin: Pin, destination: Path) -> Path:
    """Download one pinned chart archive into `destination` with Helm's SDK (HTTP repository or OCI registry)."""
    import helm_python

    destination.mkdir(parents=True, exist_ok=True)
    if pin.repository.startswith("oci://"):
        helm_python.pull(f"{pin.repository.rstrip('/')}/{pin.chart}", version=pin.version, destination=destination)
    else:
        helm_python.pull(pin.chart, repo_url=pin.repository, version=pin.version, destination=destination)
    archive = destination / pin.archive_name
    if not archive.exists():
        raise ChartMissingError(f"pulled {pin.chart} {pin.version} from {pin.repository} but {archive} is not there")
    return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.charts", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("command", choices=["pull", "lock"])
    args = parser.parse_args(argv)
    lock = read_lock(LOCK_FILE)
    if not LOCK_FILE.exists():
        print(
            f"{LOCK_FILE.name} does not exist yet: this run records each chart's digest as the repository serves it "
            "now (trust on first use). Check them against the repositories (docs/tooling.md: The chart lock) and "
            f"commit {LOCK_FILE.name}.",
            file=sys.stderr,
        )
    failures: list[str] = []
    entries: list[dict[str, str]] = []
    added: list[str] = []
    for pin in pins():
        try:
            archive = pull(pin, cache_dir())
            if args.command == "lock":
                entries.append(
                    {"name": pin.chart, "version": pin.version, "repository": pin.repository, "digest": digest(archive)}
                )
            elif (pin.chart, pin.version) not in lock:
                # First sight of this pin (a new chart or version): recorded, for review in the commit that adds it.
                lock[(pin.chart, pin.version)] = {
                    "name": pin.chart,
                    "version": pin.version,
                    "repository": pin.repository,
                    "digest": digest(archive),
                }
                added.append(f"{pin.chart} {pin.version}")
            else:
                verify(archive, pin.chart, pin.version, lock)
            print(f"{pin.chart} {pin.version}: {archive}")
        except Exception as error:
            failures.append(f"{pin.chart} {pin.version} from {pin.repository}: {error}")
    if args.command == "lock" and not failures:
        write_lock(entries, LOCK_FILE)
        print(f"wrote {LOCK_FILE.name} ({len(entries)} charts)")
    if added:
        write_lock(list(lock.values()), LOCK_FILE)
        print(f"added to {LOCK_FILE.name}: {', '.join(added)}: review the digests and commit the file")
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    if failures and (args.command == "lock" or not LOCK_FILE.exists()):
        print(
            f"error: {LOCK_FILE.name} not written: {len(failures)} pinned chart(s) could not be pulled (a chart "
            "repository out of reach?), and no digest is recorded without the chart's bytes",
            file=sys.stderr,
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
