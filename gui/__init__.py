"""RevSeg GUI: a thin PySide6 + VTK client of the engine (viewer model, slice and volume views, main window)."""
