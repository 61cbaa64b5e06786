"""Images built like `docker build`, with no registry, and loaded like `kind load`.

buildah builds the project's own Dockerfiles (layer cache under ~/.cache) on a
Python base that mmdebstrap makes from Debian packages, plus the node's pause, CoreDNS
and local-path-provisioner images; each is saved as a docker archive and imported into containerd's
``k8s.io`` namespace, where the kubelet finds it by the name a manifest uses.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlops_dev.kubebuild import GO_MODULE_DIR, REPO_ROOT, cache_root
from mlops_dev.node.layout import PAUSE_IMAGE

IMAGES_DIR = REPO_ROOT / "dev" / "node" / "images"
BASE_IMAGE = "localhost/mlops-base:py3.11-bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
COREDNS_IMAGE = "localhost/coredns:v1.12.4"
LOCAL_PATH_IMAGE = "localhost/local-path-provisioner:v0.0.30"
# The names manifests/monitoring uses, built here from the same Go modules as the host's
# Prometheus and Alertmanager (as `kind load` would give a cluster the published ones).
PROMETHEUS_IMAGE = "prom/prometheus:v3.16.0"
ALERTMANAGER_IMAGE = "prom/alertmanager:v0.28.1"
RUNTIME_IMAGE = "mlops-operator/runtime:0.1.0"
OPERATOR_IMAGE = "mlops-operator/operator:0.1.0"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


DOCKERFILE = REPO_ROOT / "Dockerfile"


@dataclass(frozen=True)
class ProjectImage:
    """One target of the project's Dockerfile and the name its image is tagged with."""

    name: str
    target: str


PROJECT_IMAGES = (
    ProjectImage(RUNTIME_IMAGE, "runtime"),
    ProjectImage(OPERATOR_IMAGE, "operator"),
)


def _storage() -> Path:
    return cache_root() / "buildah"


def buildah(*args: str, capture: bool = True) -> str:
    """Run buildah on the project's own image store (not the machine's default one)."""
    command = ["buildah", "--root", str(_storage() / "storage"),
               "--runroot", str(_storage() / "run"), "--storage-driver", "overlay", *args]
    result = subprocess.run(command, capture_output=capture, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or "").strip()[-2000:] if capture else ""
        raise RuntimeError(f"buildah {' '.join(args[:2])} failed: {detail}")
    return result.stdout if capture else ""


def image_id(name: str) -> str | None:
    """The image's ID in the build store, or None when it was never built."""
    try:
        return json.loads(buildah("inspect", "--type", "image", name))["FromImageID"]
    except RuntimeError:
        return None


def _bud(name: str, containerfile: Path, context: Path, *extra: str, log=sys.stderr) -> None:
    """`docker build` with buildah: layers cached; RUN steps use the host network and trust
    the host's certificate bundle (mounted for the build only, never copied into a layer)."""
    print(f"building image {name}", file=log, flush=True)
    mounts = ["-v", f"{HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro"] if HOST_CA_BUNDLE.exists() else []
    buildah("bud", "--quiet", "--layers", "--force-rm", "--isolation", "chroot", "--network",
            "host", *mounts, *extra, "-f", str(containerfile), "-t", name, str(context),
            capture=True)


def ensure_base(log=sys.stderr) -> None:
    """The Python base image from Debian packages, once (mmdebstrap, then buildah)."""
    if image_id(BASE_IMAGE):
        return
    with tempfile.TemporaryDirectory(dir=cache_root()) as context:
        rootfs = Path(context) / "rootfs.tar"
        sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
        mirrors = [str(s) for s in sources] or ["/etc/apt/sources.list"]
        print("making the Python base from Debian packages (mmdebstrap)", file=log, flush=True)
        subprocess.run(
            ["mmdebstrap", "--quiet", "--mode=root", "--variant=minbase", "--format=tar",
             f"--include={','.join(BASE_PACKAGES)}",
             "--dpkgopt=path-exclude=/usr/share/{doc,man,info,locale}/*",
             # pip reads /etc/pip.conf: trust the system bundle (a build mounts the host's).
             "--customize-hook=printf '[global]\\ncert = /etc/ssl/certs/ca-certificates.crt\\n'"
             ' > "$1/etc/pip.conf"',
             '--customize-hook=rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*',
             "bookworm", str(rootfs), *mirrors], check=True)
        shutil.copy(IMAGES_DIR / "base" / "Containerfile", context)
        _bud(BASE_IMAGE, Path(context) / "Containerfile", Path(context), log=log)


def ensure_pause(log=sys.stderr) -> None:
    """The sandbox image: Kubernetes' pause.c, compiled statically."""
    if image_id(PAUSE_IMAGE):
        return
    source = subprocess.run(["go", "list", "-m", "-f", "{{.Dir}}", "k8s.io/kubernetes"],
                            cwd=GO_MODULE_DIR, capture_output=True, text=True, check=True)
    with tempfile.TemporaryDirectory(dir=cache_root()) as context:
        subprocess.run(["gcc", "-Os", "-Wall", "-Werror", "-static", "-DVERSION=v3.10",
                        "-o", f"{context}/pause",
                        f"{source.stdout.strip()}/build/pause/linux/pause.c"], check=True)
        _bud(PAUSE_IMAGE, IMAGES_DIR / "pause" / "Containerfile", Path(context), log=log)


def ensure_binary_image(name: str, binary: Path, containerfile: str, log=sys.stderr) -> None:
    """An image of one static binary (CoreDNS, local-path-provisioner, Prometheus,
    Alertmanager), built from its Containerfile folder under ``dev/node/images``."""
    if image_id(name):
        return
    with tempfile.TemporaryDirectory(dir=cache_root()) as context:
        shutil.copy(binary, context)
        _bud(name, IMAGES_DIR / containerfile / "Containerfile", Path(context), log=log)


def build_project_images(log=sys.stderr) -> None:
    """The project's Dockerfile's targets, unchanged but for the base; unchanged layers are reused,
    and an image whose build context, Dockerfile and base are all unchanged is not even
    handed to buildah (its cache check alone reads the whole context: ~15 s an image)."""
    ensure_base(log)
    built_file = _storage() / "project-builds.json"
    built = json.loads(built_file.read_text()) if built_file.exists() else {}
    for image in PROJECT_IMAGES:
        base = f"{image_id(BASE_IMAGE) or ''}\0{image.target}"
        key = build_fingerprint(DOCKERFILE, REPO_ROOT, base)
        if built.get(image.name) == key and image_id(image.name):
            continue
        _bud(image.name, DOCKERFILE, REPO_ROOT, "--target", image.target, "--build-arg",
             f"BASE_IMAGE={BASE_IMAGE}", log=log)
        built[image.name] = key
        built_file.write_text(json.dumps(built))
    prune_build_store(log)


#: How large the build store may grow before the images no name points at (earlier
#: builds, and the layer cache they hold) are removed.
STORE_BUDGET = 16 * 1024**3


def prune_build_store(log=sys.stderr) -> None:
    """Each build of changed sources leaves the previous one behind as unnamed images (a
    new copy of the ~1 GB virtualenv layer each): past ``STORE_BUDGET``, remove them all;
    the next build of a changed image then reinstalls its locked dependencies once."""
    store = _storage() / "storage"
    used = subprocess.run(["du", "-sx", "--block-size=1", str(store)], capture_output=True,
                          text=True, check=False).stdout.split()
    if not used or int(used[0]) <= STORE_BUDGET:
        return
    buildah("rmi", "--prune")
    print(f"pruned unnamed images from the build store ({int(used[0]) / 1024**3:.1f} GiB was "
          f"over {STORE_BUDGET / 1024**3:.0f} GiB)", file=log, flush=True)


def build_fingerprint(dockerfile: Path, context: Path, base_id: str) -> str:
    """A digest of what a build reads: the Dockerfile, the base, and every file of the
    context that ``.dockerignore`` does not exclude (names, modes and contents)."""
    ignored = _dockerignore_patterns(context)
    digest = hashlib.sha256(dockerfile.read_bytes() + base_id.encode())
    for folder, subfolders, files in os.walk(context):
        relative = Path(folder).relative_to(context)
        subfolders[:] = sorted(d for d in subfolders if not _ignored(relative / d, ignored))
        for name in sorted(files):
            path = relative / name
            if _ignored(path, ignored):
                continue
            full = context / path
            digest.update(f"{path}\0{full.lstat().st_mode}\0".encode())
            digest.update(os.readlink(full).encode() if full.is_symlink()
                          else full.read_bytes())
    return digest.hexdigest()


def _dockerignore_patterns(context: Path) -> list[str]:
    """The exclusions, or none at all when a ``!`` exception re-includes something."""
    ignore_file = context / ".dockerignore"
    if not ignore_file.exists():
        return []
    lines = [line.strip() for line in ignore_file.read_text().splitlines()]
    patterns = [line.strip("/") for line in lines if line and not line.startswith("#")]
    return [] if any(p.startswith("!") for p in patterns) else patterns


def _ignored(path: Path, patterns: list[str]) -> bool:
    """``.dockerignore`` matching, component by component, for the forms ``name``,
    ``dir/name`` and ``**/name``; a form it does not know excludes nothing, so the
    fingerprint may cover more than the build reads, never less."""
    parts = path.parts
    for pattern in patterns:
        pieces = pattern.split("/")
        if pieces[0] == "**" and len(pieces) == 2 and "**" not in pieces[1]:
            if any(fnmatch.fnmatchcase(part, pieces[1]) for part in parts):
                return True
        elif "**" not in pattern and len(parts) >= len(pieces):
            leading = zip(parts[:len(pieces)], pieces, strict=True)
            if all(fnmatch.fnmatchcase(part, piece) for part, piece in leading):
                return True
    return False


def containerd_name(name: str) -> str:
    """The name containerd's CRI gives a short image reference (``a/b:1`` ->
    ``docker.io/a/b:1``), as ``kind load`` imports it."""
    first = name.split("/", 1)[0]
    if "/" in name and ("." in first or ":" in first or first == "localhost"):
        return name
    return f"docker.io/{name}" if "/" in name else f"docker.io/library/{name}"


def load(names: list[str], ctr: Path, socket: Path, loaded_file: Path,
         log=sys.stderr) -> None:
    """Import each image into containerd's k8s.io namespace unless that build is there."""
    ctr_base = [str(ctr), "--address", str(socket), "-n", "k8s.io", "images"]
    present = set(_image_digests(ctr_base))
    loaded = json.loads(loaded_file.read_text()) if loaded_file.exists() else {}
    for name in names:
        built = image_id(name)
        if built is None:
            raise RuntimeError(f"image {name} was never built: run `mlops-dev cluster build`")
        if loaded.get(name) == built and containerd_name(name) in present:
            continue
        with tempfile.TemporaryDirectory(dir=cache_root()) as folder:
            archive = Path(folder) / "image.tar"
            buildah("push", "--quiet", name, f"docker-archive:{archive}:{name}")
            subprocess.run([*ctr_base, "import", "--digests", "--snapshotter=overlayfs",
                            str(archive)], check=True, capture_output=True)
        loaded[name] = built
        loaded_file.write_text(json.dumps(loaded))
        print(f"loaded image {name}", file=log, flush=True)
    _remove_stale_images(ctr_base)


def _image_digests(ctr_base: list[str]) -> dict[str, str]:
    """Every image reference in the node's store and the digest it points at."""
    listing = subprocess.run([*ctr_base, "ls"], capture_output=True, text=True,
                             check=True).stdout.splitlines()[1:]
    return {line.split()[0]: line.split()[2] for line in listing if len(line.split()) > 2}


def _remove_stale_images(ctr_base: list[str]) -> None:
    """Earlier builds stay behind under the references an import adds (``import-<date>@...``
    and the CRI's ``sha256:<id>`` alias) once their name points at a newer build: remove
    every reference to something no name points at, so that the node's store (kept across
    clusters) holds one copy of each image, not one per build. Containers still running on
    an old build keep their own snapshots."""
    digests = _image_digests(ctr_base)
    named = {digest for ref, digest in digests.items()
             if not ref.startswith(("import-", "sha256:"))}
    stale = [ref for ref, digest in digests.items() if digest not in named]
    if stale:
        subprocess.run([*ctr_base, "rm", "--sync", *stale], capture_output=True, check=False)
