"""Screenshots of the PACS dialog and the Studies browser against a temporary Orthanc (docs/screenshots/).

Starts Orthanc the way the tests do (tests/engine/dicomnet/conftest.py), uploads three small generated studies,
searches, retrieves one completely and one halfway (cancelled: shown INCOMPLETE in the browser), and grabs both
dialogs. Needs the Orthanc binary. Headless:

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python scripts/pacs_screenshots.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402

from engine.dicomnet import RetrieveCancelledError, StudyDatabase, get_study  # noqa: E402
from gui.pacs.pacs_dialog import PacsDialog  # noqa: E402
from gui.pacs.studies_browser import StudiesBrowser  # noqa: E402
from gui.shell.app import create_application  # noqa: E402
from tests.engine.dicomnet import conftest  # noqa: E402
from tests.engine.dicomnet.studies import tiny_study  # noqa: E402


class _Folders:
    def __init__(self, root: Path) -> None:
        self.root = root

    def mktemp(self, name: str) -> Path:
        path = self.root / name
        path.mkdir()
        return path


def _wait(signal, ms: int = 60_000) -> None:  # noqa: ANN001
    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def main() -> int:
    app = create_application()
    out = ROOT / "docs" / "screenshots"
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        server_gen = conftest.orthanc.__wrapped__(_Folders(root))
        server = next(server_gen)
        try:
            uids = []
            for index, (patient, contrasts) in enumerate((("GBM-0042", ("t1", "t1ce", "t2", "flair")),
                                                          ("GBM-0043", ("t1ce", "flair")), ("MEN-0007", ("t1ce",)))):
                uid, files = tiny_study(root / f"study{index}", patient, contrasts)
                server.upload(files)
                uids.append(uid)
            db = StudyDatabase(root / "db")
            get_study(server.node, uids[2], db)
            held = [0]
            try:
                get_study(server.node, uids[1], db, progress=lambda d, _t: held.__setitem__(0, d),
                          cancel=lambda: held[0] >= 4)
            except RetrieveCancelledError:
                pass
            nodes = root / "nodes.json"
            node = server.node
            nodes.write_text(json.dumps({"local_ae": "REVSEG", "nodes": {"orthanc": {
                "ae_title": node.ae_title, "host": node.host, "port": node.port, "dicomweb_url": node.dicomweb_url}}}))
            dialog = PacsDialog(db, nodes)
            dialog.form.patient_name.setText("Test^GBM*")
            dialog.show()
            dialog.search()
            _wait(dialog.job.finished)
            dialog.retrieve()
            _wait(dialog.job.finished)
            app.processEvents()
            dialog.grab().save(str(out / "pacs-dialog.png"))
            held[0] = 0
            try:  # a second study stopped halfway: the browser shows it INCOMPLETE
                get_study(server.node, uids[0], db, progress=lambda d, _t: held.__setitem__(0, d),
                          cancel=lambda: held[0] >= 7)
            except RetrieveCancelledError:
                pass
            browser = StudiesBrowser(db)
            browser.show()
            browser.select_study(uids[1])
            app.processEvents()
            browser.grab().save(str(out / "studies-browser.png"))
            dialog.shutdown()
        finally:
            next(server_gen, None)
    print(out / "pacs-dialog.png", out / "studies-browser.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
