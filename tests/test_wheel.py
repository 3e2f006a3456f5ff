"""The wheel works outside the checkout: built with `python -m build`, installed into a
fresh virtualenv in a temporary folder with a fresh HOME, then run as a user would.

The new virtualenv gets facedb from the wheel alone (``--no-deps``); its dependencies
come from the dev virtualenv's site-packages through a ``.pth`` line, so that the test
needs no network. A ``.pth`` path line adds that folder to ``sys.path`` without running
the ``.pth`` files in it, so the dev install's editable hook (which would import facedb
from the checkout) stays off; the test checks where facedb was imported from.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from conftest import REPO
from mirror import build_mirror, serve
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# Files the program reads at run time, which the wheel must hold.
RUNTIME_FILES = (
    "facedb/cli/main.py",
    "facedb/migrations/env.py",
    "facedb/migrations/script.py.mako",
    "facedb/migrations/versions/0001_initial.py",
    "facedb/weights/manifest.toml",
    "facedb/api/static/index.html",
    "facedb/api/static/kiosk.js",
    "facedb/api/static/style.css",
)


@dataclass(frozen=True)
class Install:
    root: Path  # the temporary folder: venv, HOME, people, mirror
    venv: Path
    wheel: Path
    sdist: Path
    # A fresh HOME, PATH with the venv's bin first, no FACEDB_* variable: facedb uses
    # its default home, models come from `facedb models fetch`.
    env: dict[str, str]
    models_url: str  # a loopback mirror laid out like the models' pinned sources

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """`facedb ...`, found by name on PATH as a user's shell would."""
        return subprocess.run(
            ["facedb", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _check(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"


def _build(out: Path) -> tuple[Path, Path]:
    """sdist, then the wheel built from the unpacked sdist (what `python -m build` does),
    so that a file missing from the sdist is missing from the wheel too."""
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = out.glob("facedb-*.whl")
    (sdist,) = out.glob("facedb-*.tar.gz")
    return wheel, sdist


def _make_venv(venv: Path, wheel: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"),
            *("--no-deps", "--no-index", "--disable-pip-version-check", str(wheel)),
        ],
        check=True,
        timeout=120,
    )
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dev_site = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib) / "zz_facedb_test_deps.pth").write_text("\n".join(sorted(dev_site)) + "\n")


@pytest.fixture(scope="module")
def install(faces_dir: Path, weights_dir: Path) -> Iterator[Install]:
    root = Path(tempfile.mkdtemp(prefix="facedb-wheel-"))
    env = {
        "PATH": f"{root / 'venv' / 'bin'}:/usr/bin:/bin",
        "HOME": str(root / "home"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "no_proxy": "127.0.0.1,localhost",
    }
    try:
        wheel, sdist = _build(root / "dist")
        venv = root / "venv"
        _make_venv(venv, wheel)
        (root / "home").mkdir()
        # The detector and liveness model where their pinned sources are (a zip built
        # here, a file at a commit); the int8 embedder, which has no public copy, as a
        # site's own mirror holds it (BASE/<file>).
        mirror = build_mirror(root / "mirror", weights_dir, flat=("w600k_mbf_int8",))
        with serve(mirror) as url:
            yield Install(root, venv, wheel, sdist, env, url)
    finally:
        subprocess.run(["facedb", "db", "stop"], env=env, capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def test_the_wheel_and_sdist_hold_the_files_needed_at_run_time(install: Install) -> None:
    names = set(zipfile.ZipFile(install.wheel).namelist())
    missing = [f for f in RUNTIME_FILES if f not in names]
    assert not missing, f"not in the wheel: {missing}"
    # Every module of the checkout is shipped: a package left out of pyproject's
    # [tool.setuptools] packages imports fine from the checkout and fails when installed.
    sources: set[str] = set()
    for folder, package in (("facedb", ""), ("migrations", "migrations/")):
        for path in (REPO / folder).rglob("*.py"):
            sources.add(f"facedb/{package}{path.relative_to(REPO / folder)}")
    unshipped = sorted(s for s in sources if s not in names and "__pycache__" not in s)
    assert not unshipped, (
        f"not in the wheel: {unshipped}; add their packages to [tool.setuptools] packages"
    )
    assert not [n for n in names if n.endswith(".onnx")], "model files are never shipped"
    with tarfile.open(install.sdist) as sdist:
        members = {m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name}
    for path in ("pyproject.toml", "README.md", "weights/manifest.toml", "facedb/cli/main.py"):
        assert path in members, f"{path} not in the sdist"


def test_facedb_is_imported_from_the_wheel_not_the_checkout(install: Install) -> None:
    code = "import sys, facedb, facedb.cli.main; print(facedb.__file__); print(sys.path)"
    proc = subprocess.run(
        [str(install.venv / "bin" / "python"), "-c", code],
        cwd=install.root,
        env=install.env,
        capture_output=True,
        text=True,
        check=True,
    )
    facedb_file, path = proc.stdout.splitlines()
    assert Path(facedb_file).is_relative_to(install.venv), facedb_file
    assert str(REPO) not in path.replace(str(REPO / ".venv"), "")


def test_fetch_init_enrol_and_verify_with_facedb_from_path(
    install: Install, faces_dir: Path
) -> None:
    assert shutil.which("facedb", path=install.env["PATH"]) == str(install.venv / "bin" / "facedb")
    assert not [k for k in install.env if k.startswith("FACEDB_")]
    fetch = install.run("models", "fetch", "--url", install.models_url, "--accept-licence")
    _check(fetch)

    init = install.run("init", "--json")
    _check(init)
    setup = json.loads(init.stdout)
    assert sorted(setup["keys"]) == ["admin", "kiosk"]
    home = Path(install.env["HOME"])
    assert Path(setup["home"]).is_relative_to(home)

    models = install.run("models", "--json")
    _check(models)
    listed = {m["name"]: m for m in json.loads(models.stdout)["models"]}
    for name in ("scrfd_2.5g_bnkps", "w600k_mbf_int8", "minifasnet_v2"):
        assert listed[name]["sha256_ok"] is True
        assert Path(listed[name]["path"]).is_relative_to(Path(setup["home"]) / "models")

    chosen = sorted(p for p in (faces_dir / "celeba").iterdir() if p.is_dir())[:3]
    for folder in chosen[:2]:
        photo = sorted(folder.glob("*.jpg"))[0]
        _check(install.run("enrol", "--name", folder.name, "--source", str(photo)))

    # An enrolled photo against its own stored embedding: similarity about 1.0, far
    # above any threshold, so the decision cannot depend on the CPU's arithmetic.
    enrolled = sorted(chosen[0].glob("*.jpg"))[0]
    verify = install.run("verify", "--source", str(enrolled), "--json")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert json.loads(verify.stdout)["name"] == chosen[0].name

    # The demo runs in a home of its own: the installation's people stay the two.
    people = install.root / "people"
    for folder in chosen:
        shutil.copytree(folder, people / folder.name)
    demo = install.run("demo", "--people", str(people), "--count", "2", "--strangers", "1")
    _check(demo)
    listing = install.run("users", "list", "--json")
    _check(listing)
    assert sorted(u["name"] for u in json.loads(listing.stdout)) == sorted(
        f.name for f in chosen[:2]
    )
    _check(install.run("demo", "--clean"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except (urllib.error.URLError, OSError):
        return 0, ""


def test_serve_from_the_installed_wheel_answers_health_and_the_kiosk_page(
    install: Install,
) -> None:
    port = _free_port()
    server = subprocess.Popen(
        ["facedb", "serve", "--port", str(port)],
        cwd=install.root,
        env=install.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while (status := _get(f"{base}/v1/health"))[0] != 200:
            assert server.poll() is None, f"facedb serve exited: {server.communicate()[1]}"
            assert time.monotonic() < deadline, f"no answer on {base}: {status}"
            time.sleep(0.3)
        page_status, page = _get(f"{base}/")
        assert page_status == 200
        assert "<html" in page.lower()
        assert _get(f"{base}/kiosk.js")[0] == 200  # the static files came with the wheel
    finally:
        server.terminate()
        server.wait(timeout=30)


def _dependency_closure() -> dict[str, str]:
    """Installed version of every package facedb[dev] needs on this machine, transitively."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    top = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    pending = [(Requirement(r), ("",)) for r in top]  # (requirement, extras asked of it)
    found: dict[str, str] = {}
    while pending:
        requirement, extras = pending.pop()
        marker = requirement.marker
        if marker is not None and not any(marker.evaluate({"extra": e}) for e in extras):
            continue
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{requirement.name} is required but not installed: run make")
        found[name] = dist.version
        asked = ("", *sorted(requirement.extras))
        pending += [(Requirement(text), asked) for text in dist.requires or []]
    return found


def test_constraints_pin_every_dependency_at_the_installed_version() -> None:
    pins: dict[str, str] = {}
    for line in (REPO / "constraints.txt").read_text("utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version.strip()
    closure = _dependency_closure()
    assert {"opencv-python", "numpy", "onnx", "sqlalchemy"} <= set(closure)
    unpinned = sorted(set(closure) - set(pins))
    assert not unpinned, f"not in constraints.txt: {unpinned} (run tools/update_constraints.py)"
    different = {n: (v, pins[n]) for n, v in closure.items() if pins[n] != v}
    assert not different, f"installed (left) differs from constraints.txt (right): {different}"
