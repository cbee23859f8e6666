"""Answering a modal message box the way a user does: a key press on the box that is open (the real dialog)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox


def press_on_next_box(key: Qt.Key = Qt.Key.Key_Return, seen: list | None = None,
                      before: Callable[[QMessageBox], None] | None = None) -> None:
    """When the next message box is open, record (text, buttons, default button) in ``seen`` and press ``key``.

    Args:
        key: the key pressed on the box (Return: what a hurried user does).
        seen: receives one tuple per answered box.
        before: called with the open box first (e.g. to take a screenshot).
    """
    def answer() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox) or not box.isVisible():
            QTimer.singleShot(20, answer)
            return
        default = box.defaultButton()
        if seen is not None:
            seen.append((box.text(), [b.text() for b in box.buttons()], default.text() if default else ""))
        if before is not None:
            before(box)
        QTest.keyClick(box, key)

    QTimer.singleShot(0, answer)


def click_on_next_box(button_text: str) -> None:
    """When the next message box is open, click its button called ``button_text``."""
    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox) or not box.isVisible():
            QTimer.singleShot(20, click)
            return
        next(b for b in box.buttons() if b.text() == button_text).click()

    QTimer.singleShot(0, click)
