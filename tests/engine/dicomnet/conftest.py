"""A real Orthanc server for the network tests, started once per session and stopped by its PID.

The config gets temporary storage, free localhost ports, DICOMweb on, and a DicomModalities entry for our
receiver (AE ``REVSEG_RX`` on a port chosen here), so C-MOVE can push to it. Skipped, with the reason, only
when the Orthanc binary is not installed (Debian packages ``orthanc`` and ``orthanc-dicomweb``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from engine.dicomnet import DicomNode

ORTHANC_AE = "ORTHANC"
RECEIVER_AE = "REVSEG_RX"
LOCAL_AE = "REVSEG"
PLUGINS = "/usr/share/orthanc/plugins"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class OrthancServer:
    """The running server: its node, REST URL and the receiver slot it knows."""

    node: DicomNode
    http_url: str
    receiver_port: int
    pid: int
    log: Path

    def upload(self, paths: list[Path]) -> None:
        """Upload files through the REST API (independent of the code under test)."""
        for path in paths:
            answer = requests.post(f"{self.http_url}/instances", data=path.read_bytes(), timeout=30)
            answer.raise_for_status()

    def all_instances(self) -> list[dict]:
        """Every instance Orthanc holds, with its main tags."""
        found = requests.get(f"{self.http_url}/instances?expand", timeout=30)
        found.raise_for_status()
        return found.json()


def _config(folder: Path, dicom_port: int, http_port: int, receiver_port: int) -> dict:
    return {
        "Name": "revseg-tests", "StorageDirectory": str(folder / "storage"), "IndexDirectory": str(folder / "index"),
        "DicomAet": ORTHANC_AE, "DicomPort": dicom_port, "HttpPort": http_port, "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False, "DicomCheckCalledAet": True, "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True, "DicomAlwaysAllowFind": True, "DicomAlwaysAllowGet": True,
        "DicomAlwaysAllowMove": True, "DicomScpTimeout": 30, "StableAge": 1,
        "DicomModalities": {"revseg": [RECEIVER_AE, "127.0.0.1", receiver_port]},
        "Plugins": [PLUGINS], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }


def _wait_until_up(url: str, process: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Orthanc exited with code {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if requests.get(f"{url}/system", timeout=2).ok and requests.get(f"{url}/dicom-web/studies",
                                                                            timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"Orthanc did not answer within {seconds} s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory):
    binary = shutil.which("Orthanc") or shutil.which("Orthanc", path="/usr/sbin")
    if binary is None:
        pytest.skip("the Orthanc binary is not installed (apt-get install orthanc orthanc-dicomweb)")
    folder = tmp_path_factory.mktemp("orthanc")
    dicom_port, http_port, receiver_port = free_port(), free_port(), free_port()
    config = folder / "cfg.json"
    config.write_text(json.dumps(_config(folder, dicom_port, http_port, receiver_port), indent=2))
    log = folder / "orthanc.log"
    with log.open("wb") as out:
        process = subprocess.Popen([binary, str(config)], stdout=out, stderr=subprocess.STDOUT, cwd=folder)
    url = f"http://127.0.0.1:{http_port}"
    try:
        _wait_until_up(url, process, log)
        node = DicomNode("orthanc", ORTHANC_AE, "127.0.0.1", dicom_port, dicomweb_url=f"{url}/dicom-web",
                         timeout_s=20)
        yield OrthancServer(node, url, receiver_port, process.pid, log)
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
