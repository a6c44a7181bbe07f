"""wp_build.py - a PEP 517 build backend for the wattprof package, with the
standard library only, so that "pip install ./python" works offline (pip
installs a backend's requirements from an index; this one has none).

It builds a pure-Python wheel of the wattprof/ folder (PEP 427: the files,
then NAME-VERSION.dist-info/ with METADATA, WHEEL and RECORD, whose hashes
are urlsafe base64 sha256 without padding), and an sdist of this folder.
The library itself is not in the wheel: the binding finds it through
WATTPROF_LIB, beside the package, or the system's library path.
"""
import base64
import hashlib
import io
import os
import tarfile
import zipfile

NAME, VERSION = "wattprof", "0.1.0"
HERE = os.path.dirname(os.path.abspath(__file__))
DIST_INFO = f"{NAME}-{VERSION}.dist-info"
METADATA = f"""Metadata-Version: 2.1
Name: {NAME}
Version: {VERSION}
Summary: The energy of code, measured by libwattprof (C), from Python
License: MIT
Requires-Python: >=3.8
"""
WHEEL = """Wheel-Version: 1.0
Generator: wattprof wp_build
Root-Is-Purelib: true
Tag: py3-none-any
"""


def _files():
    for base, dirs, files in os.walk(os.path.join(HERE, NAME)):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for f in sorted(files):
            if not f.endswith((".pyc", ".pyo")):
                full = os.path.join(base, f)
                yield full, os.path.relpath(full, HERE)


def _hash(data):
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    path = os.path.join(metadata_directory, DIST_INFO)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "METADATA"), "w") as f:
        f.write(METADATA)
    with open(os.path.join(path, "WHEEL"), "w") as f:
        f.write(WHEEL)
    return DIST_INFO


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = f"{NAME}-{VERSION}-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w",
                         zipfile.ZIP_DEFLATED) as z:
        entries = [(arc, open(full, "rb").read()) for full, arc in _files()]
        entries += [(f"{DIST_INFO}/METADATA", METADATA.encode()),
                    (f"{DIST_INFO}/WHEEL", WHEEL.encode())]
        for arc, data in entries:
            z.writestr(arc, data)
            record.append(f"{arc},{_hash(data)},{len(data)}")
        record.append(f"{DIST_INFO}/RECORD,,")
        z.writestr(f"{DIST_INFO}/RECORD", "\n".join(record) + "\n")
    return name


def build_sdist(sdist_directory, config_settings=None):
    name = f"{NAME}-{VERSION}"
    path = os.path.join(sdist_directory, name + ".tar.gz")
    with tarfile.open(path, "w:gz") as t:
        for rel in ("pyproject.toml", "wp_build.py"):
            t.add(os.path.join(HERE, rel), arcname=f"{name}/{rel}")
        for full, arc in _files():
            t.add(full, arcname=f"{name}/{arc}")
        info = tarfile.TarInfo(f"{name}/PKG-INFO")
        data = METADATA.encode()
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return name + ".tar.gz"
